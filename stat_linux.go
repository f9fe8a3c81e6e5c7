package shm

import (
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Stat describes the named object without following a symbolic link.
func Stat(name string, opts ...Option) (Info, error) {
	c := newConfig(opts)
	p, err := Path(c.dir, name)
	if err != nil {
		return Info{}, wrap("stat", name, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return Info{}, wrap("stat", name, err)
	}
	return infoOf(trimName(name), p, &st), nil
}

// List describes every object in the shared-memory directory, sorted by name.
// Dir("") means DefaultDir, as it does for every other call.
func List(opts ...Option) ([]Info, error) {
	c := newConfig(opts)
	if c.dir == "" {
		c.dir = DefaultDir
	}
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		if pe, ok := err.(*fs.PathError); ok {
			err = pe.Err // the Error already names the directory
		}
		return nil, wrap("list", c.dir, err)
	}
	infos := make([]Info, 0, len(entries))
	for _, e := range entries {
		p := c.dir + "/" + e.Name()
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			continue // removed while we listed
		}
		infos = append(infos, infoOf(e.Name(), p, &st))
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	return infos, nil
}

func infoOf(name, path string, st *unix.Stat_t) Info {
	kind := KindData
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		kind = KindOther
	case strings.HasPrefix(name, SemaphorePrefix):
		kind = KindSemaphore
	}
	return Info{
		Name:    name,
		Path:    path,
		Size:    st.Size,
		Mode:    fileMode(st.Mode),
		UID:     st.Uid,
		GID:     st.Gid,
		ModTime: time.Unix(st.Mtim.Unix()),
		Kind:    kind,
		Device:  st.Dev,
		Inode:   st.Ino,
	}
}

func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}
