package mailfs

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// What /proc says about the process behind a FUSE request. The outbox needs
// it to tell the last close of a message from the close of a dup, and a
// writer that finished from one that was killed. FUSE names a request's
// caller by thread id; /proc/<tid> exists for threads too.

// tgid is the process (thread group) of the thread tid, or 0 when /proc
// does not say. A thread may end before its process does.
func tgid(tid uint32) uint32 {
	if tid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil {
				return 0
			}
			return uint32(n)
		}
	}
	return 0
}

// pfExiting is the kernel's PF_EXITING task flag: the task is in do_exit,
// closing its files.
const pfExiting = 0x4

// diedBySignal reports whether the task tid is exiting because a signal
// killed it. Its closes then come from the kernel tearing it down (at that
// point /proc/<tid>/stat shows PF_EXITING and the wait status it will
// report, whose low 7 bits are the signal).
func diedBySignal(tid uint32) bool {
	if tid == 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", tid))
	if err != nil {
		return false
	}
	flags, exitCode, ok := parseStat(b)
	if !ok || flags&pfExiting == 0 {
		return false
	}
	sig := exitCode & 0x7f
	return sig != 0 && sig != 0x7f // 0x7f is "stopped", not a death
}

// parseStat takes the flags (field 9) and exit_code (field 52) out of a
// /proc/PID/stat line. The command name (field 2) may hold spaces and
// parentheses, so fields are counted from the last ')'.
func parseStat(b []byte) (flags, exitCode uint64, ok bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 52-3+1 {
		return 0, 0, false
	}
	flags, err1 := strconv.ParseUint(f[9-3], 10, 64)
	exitCode, err2 := strconv.ParseUint(f[52-3], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return flags, exitCode, true
}

// stillOpenIn reports whether process pid has a descriptor open on the
// inode ino of this mount's device dev ("major:minor"; "" when unknown, and
// then any file system's inode ino counts). At flush time the descriptor
// being closed is already gone from the process's table, so any match is
// another one. /proc/PID/fdinfo gives the inode and mount without a request
// to this filesystem (a stat of /proc/PID/fd/N would ask us, from inside our
// own handler). When /proc cannot be read, the close counts as the last.
func stillOpenIn(pid uint32, dev string, ino uint64) bool {
	return openIn(pid, dev, ino, false)
}

// stillOpenForWriteIn is stillOpenIn counting only descriptors open for
// writing: a document's file is one inode for its readers and its writers,
// and a process that reads it while it writes it (jq f.json > f.json) must
// not hold its save back.
func stillOpenForWriteIn(pid uint32, dev string, ino uint64) bool {
	return openIn(pid, dev, ino, true)
}

func openIn(pid uint32, dev string, ino uint64, writersOnly bool) bool {
	if pid == 0 {
		return false
	}
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	want := strconv.FormatUint(ino, 10)
	var devs map[string]string // mount id -> device, read on the first inode match
	for _, e := range ents {
		gotIno, mnt, flags := fdinfo(filepath.Join(dir, e.Name()))
		if gotIno != want || (writersOnly && flags&syscall.O_ACCMODE == syscall.O_RDONLY) {
			continue
		}
		if dev == "" {
			return true
		}
		if devs == nil {
			devs = mountDevices(pid)
		}
		// Two hubfs mounts in one process number their drafts alike; only
		// a descriptor on this mount's device is ours.
		if devs[mnt] == dev {
			return true
		}
	}
	return false
}

// fdinfo returns the ino, mnt_id and flags (octal) lines of one
// /proc/PID/fdinfo/N.
func fdinfo(path string) (ino, mnt string, flags uint64) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "ino:"); ok {
			ino = strings.TrimSpace(v)
		} else if v, ok := strings.CutPrefix(line, "mnt_id:"); ok {
			mnt = strings.TrimSpace(v)
		} else if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags, _ = strconv.ParseUint(strings.TrimSpace(v), 8, 64)
		}
	}
	return ino, mnt, flags
}

// mountDevices maps each mount id in pid's mount namespace to its device.
func mountDevices(pid uint32) map[string]string {
	out := map[string]string{}
	for _, m := range readMountinfo(fmt.Sprintf("/proc/%d/mountinfo", pid)) {
		out[m.id] = m.dev
	}
	return out
}

type mountinfoLine struct {
	id, dev, point, fstype string
}

// readMountinfo parses a mountinfo file: "ID PARENT MAJ:MIN ROOT POINT OPTS
// [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS", with spaces in paths as \040.
func readMountinfo(path string) []mountinfoLine {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []mountinfoLine
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 7 {
			continue
		}
		m := mountinfoLine{id: f[0], dev: f[2], point: unescapeMountinfo(f[4])}
		for i := 6; i < len(f)-1; i++ {
			if f[i] == "-" {
				m.fstype = f[i+1]
				break
			}
		}
		out = append(out, m)
	}
	return out
}

func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// fuseDevice is the device ("major:minor") of the FUSE mount at dir in this
// process's namespace, or "" if there is none. The last mount on dir is the
// one in effect.
func fuseDevice(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	if r, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		abs = filepath.Join(r, filepath.Base(abs))
	}
	dev := ""
	for _, m := range readMountinfo("/proc/self/mountinfo") {
		if m.point == abs && strings.HasPrefix(m.fstype, "fuse") {
			dev = m.dev
		}
	}
	return dev
}
