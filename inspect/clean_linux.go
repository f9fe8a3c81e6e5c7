package inspect

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"path/filepath"
	"time"

	"github.com/shmkit/shm"
	"golang.org/x/sys/unix"
)

// hiddenPrefix starts the name under which Clean holds an object during
// its final check.
const hiddenPrefix = ".shm-clean-"

// remove takes o out of its name, checks it once more and unlinks it, or
// puts it back; see the package documentation.
func (opts *CleanOptions) remove(o Object, now time.Time) Outcome {
	kept := func(why string) Outcome { return Outcome{Object: o, Action: Kept, Reason: why} }
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return kept("no random name for the final check: " + err.Error())
	}
	dir := opts.dir()
	hiddenName := hiddenPrefix + hex.EncodeToString(b[:])
	if o.Kind == KindSemaphore {
		hiddenName = shm.SemaphorePrefix + hiddenName // still a semaphore to the final check
	}
	hidden := filepath.Join(dir, hiddenName)
	if err := unix.Renameat2(unix.AT_FDCWD, o.Path, unix.AT_FDCWD, hidden, unix.RENAME_NOREPLACE); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return kept("gone before its final check")
		}
		return kept("cannot take it out of its name for the final check: " + err.Error())
	}
	again, why := opts.finalCheck(o, dir, hiddenName, now)
	if why != "" {
		out := kept("at the final check: " + why)
		if again != nil {
			out.Object = *again
		}
		if err := unix.Renameat2(unix.AT_FDCWD, hidden, unix.AT_FDCWD, o.Path, unix.RENAME_NOREPLACE); err != nil {
			out.HiddenAs = hiddenName
			out.Reason += "; a new object took its name meanwhile, so it stays as " + hiddenName
		}
		return out
	}
	if err := unix.Unlink(hidden); err != nil {
		out := kept("unlink: " + err.Error())
		if unix.Renameat2(unix.AT_FDCWD, hidden, unix.AT_FDCWD, o.Path, unix.RENAME_NOREPLACE) != nil {
			out.HiddenAs = hiddenName
		}
		return out
	}
	return Outcome{Object: *again, Action: Removed, Reason: string(again.State) + ": " + again.Reason}
}

// finalCheck classifies the object again under its hidden name, after a
// fresh scan of /proc, and returns it with why it must be kept, or "".
func (opts *CleanOptions) finalCheck(o Object, dir, hiddenName string, now time.Time) (*Object, string) {
	info, err := shm.Stat(hiddenName, shm.Dir(dir))
	if err != nil {
		return nil, err.Error()
	}
	if info.Device != o.Device || info.Inode != o.Inode {
		return nil, "the name now holds another object"
	}
	att, err := shm.ScanAttachments()
	if err != nil {
		return nil, "scan: " + err.Error()
	}
	again := Classify(dir, info, att)
	again.Name, again.Path = o.Name, o.Path
	return &again, opts.refuse(again, now)
}
