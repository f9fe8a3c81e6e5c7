package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os/user"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/inspect"
	"github.com/shmkit/shm/internal/jsonname"
	"github.com/spf13/cobra"
)

// object is what ls and stat show about an object in the shared-memory
// directory, and the JSON they print with --json (with name_base64 for a
// name that is not UTF-8, as every --json that carries a name has: see
// package jsonname).
type object struct {
	jsonname.Field
	Path     string         `json:"path"`
	Size     int64          `json:"size"`
	Mode     string         `json:"mode"` // permission bits in octal, "0640"
	Perm     string         `json:"perm"` // as ls -l shows them, "-rw-r-----"
	UID      uint32         `json:"uid"`
	GID      uint32         `json:"gid"`
	Owner    string         `json:"owner"` // user name, or the uid when it has none
	Group    string         `json:"group"` // group name, or the gid
	Modified time.Time      `json:"modified"`
	Kind     string         `json:"kind"`              // data, semaphore, other, or what a kindProbe says
	Details  map[string]any `json:"details,omitempty"` // what a kindProbe found inside
	lifecycle
}

// A kindProbe looks at an object more closely than its name can: the
// semaphore, queue and topic commands have one each (in their own file)
// to tell their objects apart and say what is inside, such as a
// semaphore's value or a queue's depth. It returns ok false for objects
// that are not its kind. Probes read untrusted shared memory: an object
// that looks like theirs but is damaged should come back with its kind and
// a detail saying what is wrong, never a panic. The detail "state", a short
// string such as "value=3" or "fill=12.5%", is what ls shows in its DETAIL
// column.
type kindProbe func(dir string, info shm.Info) (kind string, details map[string]any, ok bool)

// kindProbes are asked in this order; the first that knows an object
// decides its kind.
var kindProbes = []kindProbe{semProbe, probeQueue, probeTopic}

// describe turns a library Info into what ls and stat show. The first
// of kindProbes that recognizes the object decides its kind; otherwise
// it is the library's Kind.
func describe(dir string, info shm.Info, names *idNames) object {
	o := object{
		Field:    jsonname.Of(info.Name),
		Path:     info.Path,
		Size:     info.Size,
		Mode:     fmt.Sprintf("%04o", uint32(info.Mode.Perm())),
		Perm:     lsPerm(info.Mode),
		UID:      info.UID,
		GID:      info.GID,
		Owner:    names.user(info.UID),
		Group:    names.group(info.GID),
		Modified: info.ModTime,
		Kind:     string(info.Kind),
	}
	o.Kind, o.Details = probeKind(dir, info)
	return o
}

// probeKind returns the kind of an object, and what its probe found inside:
// the first of kindProbes that recognizes it decides, or else the
// library's Kind.
func probeKind(dir string, info shm.Info) (string, map[string]any) {
	for _, probe := range kindProbes {
		if kind, details, ok := probe(dir, info); ok {
			return kind, details
		}
	}
	return string(info.Kind), nil
}

// lsPerm shows a mode as ls -l does: "-rw-r-----", "lrwxrwxrwx",
// "drwxrwxrwt" (fs.FileMode.String writes "L" for a link and "dt" for
// sticky directories).
func lsPerm(m fs.FileMode) string {
	b := []byte("-rwxrwxrwx")
	switch {
	case m&fs.ModeDir != 0:
		b[0] = 'd'
	case m&fs.ModeSymlink != 0:
		b[0] = 'l'
	case m&fs.ModeNamedPipe != 0:
		b[0] = 'p'
	case m&fs.ModeSocket != 0:
		b[0] = 's'
	case m&fs.ModeCharDevice != 0:
		b[0] = 'c'
	case m&fs.ModeDevice != 0:
		b[0] = 'b'
	}
	for i := range 9 {
		if m&(1<<(8-i)) == 0 {
			b[i+1] = '-'
		}
	}
	if m&fs.ModeSticky != 0 {
		if b[9] == 'x' {
			b[9] = 't'
		} else {
			b[9] = 'T'
		}
	}
	return string(b)
}

// idNames resolves user and group ids to names, once each.
type idNames struct{ users, groups map[uint32]string }

func newIDNames() *idNames {
	return &idNames{users: map[uint32]string{}, groups: map[uint32]string{}}
}

func (n *idNames) user(id uint32) string {
	if s, ok := n.users[id]; ok {
		return s
	}
	s := strconv.FormatUint(uint64(id), 10)
	if u, err := user.LookupId(s); err == nil {
		s = u.Username
	}
	n.users[id] = s
	return s
}

func (n *idNames) group(id uint32) string {
	if s, ok := n.groups[id]; ok {
		return s
	}
	s := strconv.FormatUint(uint64(id), 10)
	if g, err := user.LookupGroupId(s); err == nil {
		s = g.Name
	}
	n.groups[id] = s
	return s
}

func newLsCmd() *cobra.Command {
	var dir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the objects in the shared-memory directory",
		Long: `List every object in the shared-memory directory (/dev/shm unless --dir says
otherwise): segments of C, Python and Go programs alike. KIND tells glibc's
named semaphores (sem.NAME) and this project's queues and topics apart from
plain data;
ATTACHED counts the processes that map an object or hold a descriptor to
it ("?" when some processes could not be inspected and none of the others
is attached); STATE says whether it is in-use, idle, stale or unknown (see
"shm clean"); DETAIL shows a semaphore's value, a queue's fill level and a topic's policy
and subscriber count (or, for a damaged queue or topic, the part that is
corrupt).`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			infos, err := shm.List(shm.Dir(dir))
			if err != nil {
				return err
			}
			att, err := shm.ScanAttachments()
			if err != nil {
				att = inspect.NoScan() // list the objects all the same, as unknown
			}
			names := newIDNames()
			objs := make([]object, 0, len(infos))
			for _, info := range infos {
				o := describe(dir, info, names)
				o.lifecycle = lifecycleOf(inspect.Classify(dir, info, att), false)
				objs = append(objs, o)
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), objs)
			}
			rows := [][]string{{"NAME", "SIZE", "MODE", "OWNER", "MODIFIED", "KIND", "ATTACHED", "STATE", "DETAIL"}}
			for _, o := range objs {
				state, ok := o.Details["state"].(string)
				if !ok {
					state = "-"
				}
				rows = append(rows, []string{columnName(o.Name), formatSize(o.Size), o.Perm,
					printable(o.Owner), o.Modified.Local().Format("2006-01-02 15:04"), o.Kind, o.attachedColumn(), o.State, printable(state)})
			}
			return writeColumns(cmd.OutOrStdout(), rows, 2)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array for scripts")
	addDirFlag(cmd, &dir)
	return cmd
}

func newStatCmd() *cobra.Command {
	var dir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:               "stat NAME",
		Short:             "Describe one object",
		Args:              exactArgs("NAME"),
		ValidArgsFunction: completeNames(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			info, err := shm.Stat(objectName(dir, args[0]), shm.Dir(dir))
			if err != nil {
				return err
			}
			att, err := shm.ScanAttachments()
			if err != nil {
				att = inspect.NoScan()
			}
			o := describe(dir, info, newIDNames())
			o.lifecycle = lifecycleOf(inspect.Classify(dir, info, att), true)
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), o)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 1, ' ', 0)
			fmt.Fprintf(tw, "name:\t%s\n", shm.QuoteName(o.Name))
			fmt.Fprintf(tw, "path:\t%s\n", shm.QuoteName(o.Path))
			fmt.Fprintf(tw, "size:\t%d (%s)\n", o.Size, formatSize(o.Size))
			fmt.Fprintf(tw, "mode:\t%s (%s)\n", o.Mode, o.Perm)
			fmt.Fprintf(tw, "owner:\t%s (%d)\n", printable(o.Owner), o.UID)
			fmt.Fprintf(tw, "group:\t%s (%d)\n", printable(o.Group), o.GID)
			fmt.Fprintf(tw, "modified:\t%s\n", o.Modified.Local().Format("2006-01-02 15:04:05.000000000 -0700"))
			fmt.Fprintf(tw, "kind:\t%s\n", o.Kind)
			for _, k := range slices.Sorted(maps.Keys(o.Details)) {
				label := k
				if k == "state" {
					label = "detail" // ls's DETAIL column; STATE is the lifecycle state below
				}
				fmt.Fprintf(tw, "%s:\t%s\n", printable(label), printable(fmt.Sprint(o.Details[k])))
			}
			writeLifecycle(tw, o.lifecycle)
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON object for scripts")
	addDirFlag(cmd, &dir)
	return cmd
}

// writeJSON prints v as indented JSON in which every character that does not
// print is escaped: encoding/json escapes control characters below 0x20 but
// writes DEL and characters such as U+202E (which reorders the text around
// it) as they are, and names from the shared-memory directory may hold them.
func writeJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(escapeUnprintable(buf.Bytes()))
	return err
}

// jsonArray writes a JSON array one element at a time, each as soon as it
// is known, in the form writeJSON gives the whole array: for a command that
// may be stopped half-way and must have printed what it did. Write errors
// are kept for close to return.
type jsonArray struct {
	w   io.Writer
	n   int
	err error
}

// add writes v as the array's next element.
func (a *jsonArray) add(v any) {
	b, err := json.MarshalIndent(v, "  ", "  ")
	if err != nil {
		a.err = cmp.Or(a.err, err)
		return
	}
	sep := ",\n  "
	if a.n == 0 {
		sep = "[\n  "
	}
	a.n++
	if _, err := a.w.Write(escapeUnprintable(append([]byte(sep), b...))); err != nil {
		a.err = cmp.Or(a.err, err)
	}
}

// close ends the array and returns the first error in writing it.
func (a *jsonArray) close() error {
	end := "\n]\n"
	if a.n == 0 {
		end = "[]\n"
	}
	_, err := io.WriteString(a.w, end)
	return cmp.Or(a.err, err)
}

// escapeUnprintable escapes, as \uXXXX, every character of encoded JSON that
// does not print but newline. Outside strings JSON holds only printable
// ASCII and white space, so each such character is inside a string, where
// the escape means the same character.
func escapeUnprintable(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == '\n' || unicode.IsPrint(r) || r == utf8.RuneError && size <= 1 {
			// encoding/json writes valid UTF-8 only; keep anything else.
			out = append(out, b[i:i+size]...)
		} else if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		} else {
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += size
	}
	return out
}
