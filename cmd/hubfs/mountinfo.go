package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// ownHubfsMounts are the hubfs mounts this process sees, from
// /proc/self/mountinfo, which never touches the mounts themselves (a hung
// one cannot hang the caller here); none without /proc.
func ownHubfsMounts() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	return hubfsMounts(f)
}

// hubfsMounts lists the mount points of fstype fuse.hubfs in a mountinfo
// file (proc(5): the mount point is field 5, the fstype follows " - ").
func hubfsMounts(r io.Reader) []string {
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

// unescapeMountinfo undoes the octal escapes (\040 for a space) of
// mountinfo's paths.
func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
