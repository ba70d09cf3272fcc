package fs

import (
	"os"
	"syscall"
	"testing"
)

func TestStillOpenIn(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	pid := uint32(os.Getpid())
	if !stillOpenIn(pid, st.Ino) {
		t.Error("an open file is not seen as open")
	}
	if stillOpenIn(pid, st.Ino+1<<40) {
		t.Error("an inode nobody has open is seen as open")
	}
	if stillOpenIn(0, st.Ino) {
		t.Error("pid 0 (unknown caller) must count as the last close")
	}
}
