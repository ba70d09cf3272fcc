package mailfs

import (
	"bufio"
	"io"
	"os"
	"slices"
	"sort"
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

// Mounts lists the mount points of fstype fuse.hubfs in a mountinfo file
// (proc(5): the mount point is field 5, the fstype follows " - "), in the
// file's order.
func Mounts(r io.Reader) []string {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, after := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(after) < 1 || after[0] != "fuse.hubfs" {
			continue
		}
		out = append(out, unescapeMountinfo(fields[4]))
	}
	return out
}

// TopMounts are this process's hubfs mounts, one a mount: those under
// another hubfs mount (the box connections of --no-open) are left out.
// From /proc/self/mountinfo, which never touches the mounts, so a dead one
// cannot hang the caller; none without /proc.
func TopMounts() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	return topLevel(Mounts(f))
}

// topLevel leaves out the mount points under another one of all.
func topLevel(all []string) []string {
	var out []string
	for _, p := range all {
		if !slices.ContainsFunc(all, func(q string) bool { return strings.HasPrefix(p, strings.TrimSuffix(q, "/")+"/") }) {
			out = append(out, p)
		}
	}
	return out
}

// hubfsMountsUnder lists the hubfs mount points strictly under dir in a
// mountinfo file, deepest first.
func hubfsMountsUnder(r io.Reader, dir string) []string {
	prefix := strings.TrimSuffix(dir, "/") + "/"
	var out []string
	for _, p := range Mounts(r) {
		if strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return strings.Count(out[i], "/") > strings.Count(out[j], "/") })
	return out
}
