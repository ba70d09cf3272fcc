package mailfs

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
	if !stillOpenIn(pid, "", st.Ino) {
		t.Error("an open file is not seen as open")
	}
	if stillOpenIn(pid, "", st.Ino+1<<40) {
		t.Error("an inode nobody has open is seen as open")
	}
	if stillOpenIn(0, "", st.Ino) {
		t.Error("pid 0 (unknown caller) must count as the last close")
	}
}

func TestTgid(t *testing.T) {
	if got, want := tgid(uint32(syscall.Gettid())), uint32(os.Getpid()); got != want {
		t.Errorf("tgid(this thread) = %d, want the process %d", got, want)
	}
	if got := tgid(0); got != 0 {
		t.Errorf("tgid(0) = %d, want 0 (unknown caller)", got)
	}
}
