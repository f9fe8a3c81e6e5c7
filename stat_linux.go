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
	case st.Size >= 8:
		if k, ok := kindOfMagic(readMagic(path)); ok {
			kind = k
		}
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

// readMagic returns the first 8 bytes of the regular file at path, or nil
// when it cannot read them. It opens without following a symbolic link and
// without blocking (a FIFO put under the name since it was looked at), and
// reads with pread: nothing is mapped, so a file that shrinks meanwhile
// cannot fault.
func readMagic(path string) []byte {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	b := make([]byte, 8)
	if n, err := unix.Pread(fd, b, 0); err != nil || n != len(b) {
		return nil
	}
	return b
}
