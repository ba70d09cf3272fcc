package mailfs

import (
	"bufio"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// submountsOf are the hubfs mounts strictly under dir in this process's
// mount table, deepest first: the no-open box connections of a mount at
// dir (noopen.go). /proc/self/mountinfo never touches the mounts, so a dead
// one cannot hang the caller here; none without /proc.
func submountsOf(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	return hubfsMountsUnder(f, dir)
}

// hubfsMountsUnder lists the mount points of fstype fuse.hubfs under dir in
// a mountinfo file (proc(5): the mount point is field 5, the fstype follows
// " - "), deepest first.
func hubfsMountsUnder(r io.Reader, dir string) []string {
	prefix := strings.TrimSuffix(dir, "/") + "/"
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, after := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(after) < 1 || after[0] != "fuse.hubfs" {
			continue
		}
		if p := unescapeOctal(fields[4]); strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return strings.Count(out[i], "/") > strings.Count(out[j], "/") })
	return out
}

// unescapeOctal undoes mountinfo's octal escapes (\040 for a space).
func unescapeOctal(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
