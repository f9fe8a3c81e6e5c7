package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/shmkit/shm"
	"github.com/spf13/cobra"
)

// The segment commands: create, rm, cat, write, dump, resize, edit. ls and
// stat are in ls.go.

func newCreateCmd() *cobra.Command {
	var dir string
	var size sizeFlag
	mode := modeFlag(shm.DefaultMode)
	cmd := &cobra.Command{
		Use:   "create NAME --size SIZE",
		Short: "Create a segment (exclusively: an existing NAME is an error)",
		Long: `Create a new segment of SIZE bytes, filled with zeros. The space is reserved
now, so a full file system is an error here rather than a crash later. The mode
is exactly --mode, whatever the umask.`,
		Example: "  shm create jobs --size 64K\n  shm create jobs --size 1M --mode 0640",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !size.set {
				return usageErr(cmd, "--size is required (such as --size 64K)")
			}
			seg, err := shm.Create(objectName(dir, args[0]), size.n, shm.Dir(dir), shm.Mode(fs.FileMode(mode)))
			if err != nil {
				return err
			}
			return seg.Close()
		},
	}
	cmd.Flags().Var(&size, "size", "size in bytes, such as 4096, 64K, 1M, 1GiB (required)")
	cmd.Flags().Var(&mode, "mode", "permission bits, in octal")
	addDirFlag(cmd, &dir)
	return cmd
}

func newRmCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "rm NAME...",
		Short: "Remove segments (processes that have them mapped keep them until they close)",
		Long: `Remove each NAME (or its path, such as /dev/shm/NAME). Every name is tried; if
any fails, each failure is reported and the exit status is 1. A named
semaphore is the file sem.NAME: "shm sem rm NAME" removes it.`,
		Args:              minArgs(1, "NAME"),
		ValidArgsFunction: completeNames(true),
		RunE: func(cmd *cobra.Command, args []string) error {
			failed := false
			for _, arg := range args {
				name := objectName(dir, arg)
				if err := shm.Unlink(name, shm.Dir(dir)); err != nil {
					if errors.Is(err, fs.ErrNotExist) {
						err = semaphoreHint(dir, name, err)
					}
					fmt.Fprintln(cmd.ErrOrStderr(), "shm: "+errorLine(err))
					failed = true
				}
			}
			if failed {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	addDirFlag(cmd, &dir)
	return cmd
}

// semaphoreHint adds to err, the failure to find the object name, that a
// semaphore of that name exists, and which command removes it.
func semaphoreHint(dir, name string, err error) error {
	clean, cerr := shm.CleanName(name)
	if cerr != nil {
		return err
	}
	if _, serr := shm.Stat(shm.SemaphorePrefix+clean, shm.Dir(dir)); serr != nil {
		return err
	}
	return &shm.Error{Op: "unlink", Name: name, Err: fmt.Errorf("%w (there is a semaphore %s: \"shm sem rm %s\" removes it)", unwrapShm(err), shm.QuoteName(clean), shm.QuoteName(clean))}
}

func newCatCmd() *cobra.Command {
	var dir string
	var offset, length sizeFlag
	cmd := &cobra.Command{
		Use:   "cat NAME",
		Short: "Copy a segment's bytes, raw, to stdout",
		Long: `Copy the segment's bytes to stdout as they are, from --offset for --length
bytes (to the end when --length is not given). The bytes are read through the
object's file (pread), a megabyte at a time: a sparse object's holes read as
zeros without taking space on the file system.`,
		Example:           "  shm cat jobs | xxd | head\n  shm cat jobs --offset 4K --length 16",
		Args:              exactArgs("NAME"),
		ValidArgsFunction: completeNames(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := objectName(dir, args[0])
			seg, err := shm.Open(name, shm.Dir(dir), shm.ReadOnly())
			if err != nil {
				return err
			}
			defer seg.Close()
			n, err := span(name, "read", seg.Size(), offset.n, length.n, length.set)
			if err != nil {
				return err
			}
			_, err = io.CopyBuffer(cmd.OutOrStdout(), seg.NewReader(offset.n, n), make([]byte, copyBuffer))
			return err
		},
	}
	cmd.Flags().Var(&offset, "offset", "first byte to copy")
	cmd.Flags().Var(&length, "length", "number of bytes to copy (default: to the end)")
	addDirFlag(cmd, &dir)
	return cmd
}

// copyBuffer is the most of a segment that cat, dump and write hold in
// memory at once.
const copyBuffer = 1 << 20

// refuseKind protects objects of a kind that a plain segment command would
// break: resizing a queue destroys it, and writing into a queue or a
// semaphore file corrupts it. Unless force is set, it returns an error
// naming the kind when the object named in dir is a queue or a semaphore;
// verb says what the command would do ("resizing"). An object that cannot
// be looked at is left to the command itself to report.
func refuseKind(dir, name, op, verb string, force bool) error {
	if force {
		return nil
	}
	info, err := shm.Stat(name, shm.Dir(dir))
	if err != nil {
		return nil
	}
	kind, _ := probeKind(dir, info)
	if kind != "queue" && kind != string(shm.KindSemaphore) {
		return nil
	}
	return &shm.Error{Op: op, Name: name, Err: fmt.Errorf("it is a %s, and %s would break it (use the \"shm %s\" commands, or --force to go ahead)", kind, verb, kindCommand[kind])}
}

// kindCommand is the command group that works on each protected kind.
var kindCommand = map[string]string{"queue": "queue", string(shm.KindSemaphore): "sem"}

// addForceFlag gives cmd the --force flag of the commands refuseKind guards.
func addForceFlag(cmd *cobra.Command, force *bool) {
	cmd.Flags().BoolVar(force, "force", false, "work on a queue or a semaphore file too, which this breaks")
}

// span checks that length bytes at offset lie inside a segment of size bytes
// and returns how many bytes to take (to the end when length is not set).
func span(name, op string, size, offset, length int64, lengthSet bool) (int64, error) {
	if offset > size {
		return 0, &shm.Error{Op: op, Name: name, Err: fmt.Errorf("%w: offset %d is beyond the segment's %d bytes", shm.ErrInvalid, offset, size)}
	}
	if !lengthSet {
		return size - offset, nil
	}
	if length > size-offset {
		return 0, &shm.Error{Op: op, Name: name, Err: fmt.Errorf("%w: %d bytes at offset %d go beyond the segment's %d bytes", shm.ErrInvalid, length, offset, size)}
	}
	return length, nil
}

// writeOptions are the flags of "shm write".
type writeOptions struct {
	dir    string
	force  bool
	offset sizeFlag
}

// newWriteCmd declares "shm write" and its flags.
func newWriteCmd() *cobra.Command {
	var o writeOptions
	cmd := &cobra.Command{
		Use:   "write NAME",
		Short: "Copy stdin into a segment",
		Long: `Copy stdin into the segment at --offset. Input that does not fit between the
offset and the end of the segment is an error, and then nothing is written; so
is a file system without room for the bytes (a sparse object on a full tmpfs).
Input from a file is streamed, a megabyte at a time; input from a pipe is read
to its end before the first byte goes in (beyond 16 MiB into an unnamed
temporary file in $TMPDIR, so that memory stays bounded). A queue or a
semaphore file is refused (writing would corrupt it) unless --force is given.`,
		Example:           "  echo hello | shm write jobs\n  shm write jobs --offset 4K < record.bin",
		Args:              exactArgs("NAME"),
		ValidArgsFunction: completeNames(false),
		RunE:              o.run,
	}
	cmd.Flags().Var(&o.offset, "offset", "where the input goes in the segment")
	addForceFlag(cmd, &o.force)
	addDirFlag(cmd, &o.dir)
	return cmd
}

// run writes standard input, or the data argument, into the segment.
func (o *writeOptions) run(cmd *cobra.Command, args []string) error {
	name := objectName(o.dir, args[0])
	if err := refuseKind(o.dir, name, "write", "writing into", o.force); err != nil {
		return err
	}
	seg, err := shm.Open(name, shm.Dir(o.dir))
	if err != nil {
		return err
	}
	defer seg.Close()
	room, err := span(name, "write", seg.Size(), o.offset.n, 0, false)
	if err != nil {
		return err
	}
	// The input's length must be known before the first byte goes
	// in: a file says it; anything else is read to its end first.
	stdin := cmd.InOrStdin()
	n, ok := fileLength(stdin)
	if !ok {
		var input io.ReadCloser
		input, n, err = bufferInput(stdin, room+1)
		if err != nil {
			return &shm.Error{Op: "write", Name: name, Err: fmt.Errorf("reading stdin, nothing was written: %w", err)}
		}
		defer input.Close()
		stdin = input
	}
	if n > room {
		return &shm.Error{Op: "write", Name: name, Err: fmt.Errorf("%w: input is more than the %d bytes from offset %d to the end of the segment; nothing was written", shm.ErrInvalid, room, o.offset.n)}
	}
	w, err := seg.NewWriter(o.offset.n, n)
	if err != nil {
		return err
	}
	copied, err := io.CopyBuffer(w, io.LimitReader(stdin, n), make([]byte, copyBuffer))
	if err == nil && copied < n {
		err = fmt.Errorf("stdin ended after %d of its %d bytes", copied, n)
	}
	if err != nil {
		return annotateWrite(name, err, copied)
	}
	return seg.Close()
}

// fileLength returns how many bytes r has left to read when it is a regular
// file, and false when it is anything else (a pipe, a terminal).
func fileLength(r io.Reader) (int64, bool) {
	f, ok := r.(*os.File)
	if !ok {
		return 0, false
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return 0, false
	}
	pos, err := f.Seek(0, io.SeekCurrent)
	if err != nil || pos > fi.Size() {
		return 0, false
	}
	return fi.Size() - pos, true
}

// inMemoryInput is the most of a pipe's input that write keeps in memory;
// beyond it the input goes to a temporary file.
const inMemoryInput = 16 << 20

// bufferInput reads r to its end, or until limit bytes came, and returns a
// reader of what it read and its length. Up to inMemoryInput bytes stay in
// memory; a longer input goes to an unnamed temporary file (in $TMPDIR), so
// that memory stays bounded whatever the input's size.
func bufferInput(r io.Reader, limit int64) (io.ReadCloser, int64, error) {
	buf := make([]byte, min(limit, inMemoryInput))
	n, err := io.ReadFull(r, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF || err == nil && int64(n) == limit:
		return io.NopCloser(bytes.NewReader(buf[:n])), int64(n), nil
	case err != nil:
		return nil, 0, err
	}
	f, err := os.CreateTemp("", "shm-write-")
	if err != nil {
		return nil, 0, err
	}
	os.Remove(f.Name()) // unnamed: gone when closed, whatever happens
	m, err := io.CopyBuffer(f, io.MultiReader(bytes.NewReader(buf), io.LimitReader(r, limit-int64(n))), make([]byte, copyBuffer))
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, m, nil
}

// annotateWrite adds to a failure in the middle of a write how much of the
// input went in before it.
func annotateWrite(name string, err error, written int64) error {
	return &shm.Error{Op: "write", Name: name, Err: fmt.Errorf("%w (the first %d bytes of the input were written)", unwrapShm(err), written)}
}

// unwrapShm returns the cause of a library *shm.Error, or err itself.
func unwrapShm(err error) error {
	var se *shm.Error
	if errors.As(err, &se) && se.Error() == err.Error() {
		return se.Err
	}
	return err
}

func newDumpCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "dump NAME",
		Short: "Show a segment in hex and ASCII, like hexdump -C",
		Long: `Show the segment's bytes in hex and ASCII, 16 to a line, in the format of
hexdump -C: repeated lines collapse into one "*", and the last line is the size.
Like cat, it reads through the object's file: holes take no space. If reading
fails, the lines before the failure are printed, then the error.`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: completeNames(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			seg, err := shm.Open(objectName(dir, args[0]), shm.Dir(dir), shm.ReadOnly())
			if err != nil {
				return err
			}
			defer seg.Close()
			return hexDump(cmd.OutOrStdout(), bufio.NewReaderSize(seg.NewReader(0, seg.Size()), copyBuffer))
		},
	}
	addDirFlag(cmd, &dir)
	return cmd
}

// hexDump writes r in the format of hexdump -C.
func hexDump(w io.Writer, r io.Reader) error {
	bw := bufio.NewWriter(w)
	var line, prev [16]byte
	var off int64
	starred := false
	for {
		n, err := io.ReadFull(r, line[:])
		if n == 16 && off > 0 && line == prev {
			if !starred {
				bw.WriteString("*\n")
				starred = true
			}
		} else if n > 0 {
			starred = false
			fmt.Fprintf(bw, "%08x ", off)
			for i := range 16 {
				if i == 8 {
					bw.WriteByte(' ')
				}
				if i < n {
					fmt.Fprintf(bw, " %02x", line[i])
				} else {
					bw.WriteString("   ")
				}
			}
			bw.WriteString("  |")
			for _, c := range line[:n] {
				if c < 0x20 || c > 0x7e {
					c = '.'
				}
				bw.WriteByte(c)
			}
			bw.WriteString("|\n")
		}
		off += int64(n)
		prev = line
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			// What was read before the failure is shown.
			return errors.Join(bw.Flush(), err)
		}
	}
	if off > 0 {
		fmt.Fprintf(bw, "%08x\n", off)
	}
	return bw.Flush()
}

func newResizeCmd() *cobra.Command {
	var dir string
	var force bool
	cmd := &cobra.Command{
		Use:   "resize NAME SIZE",
		Short: "Grow or shrink a segment",
		Long: `Set the segment's size to SIZE bytes. Growing reserves the space now (a full
file system is an error here) and fills it with zeros; shrinking drops the end,
and other processes that still map it get an error or a fault when they touch
what is gone. A queue or a semaphore file is refused (resizing would destroy
it) unless --force is given.`,
		Example:           "  shm resize jobs 1M",
		Args:              exactArgs("NAME", "SIZE"),
		ValidArgsFunction: completeNames(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			size, err := parseSize(args[1])
			if err != nil {
				return usageErr(cmd, "%v", err)
			}
			name := objectName(dir, args[0])
			if err := refuseKind(dir, name, "resize", "resizing", force); err != nil {
				return err
			}
			seg, err := shm.Open(name, shm.Dir(dir))
			if err != nil {
				return err
			}
			defer seg.Close()
			if err := seg.Resize(size); err != nil {
				return err
			}
			return seg.Close()
		},
	}
	addForceFlag(cmd, &force)
	addDirFlag(cmd, &dir)
	return cmd
}

// defaultEditSize is the size edit gives a new segment: one page, the
// SHM_SIZE of the C program examples/mmap ports.
const defaultEditSize = 4096

// editOptions are the flags of "shm edit".
type editOptions struct {
	dir   string
	force bool
	size  sizeFlag
}

// newEditCmd declares "shm edit" and its flags.
func newEditCmd() *cobra.Command {
	o := editOptions{
		size: sizeFlag{n: defaultEditSize},
	}
	cmd := &cobra.Command{
		Use:   "edit NAME",
		Short: "Open or create a segment, show the stored word, store a new one from stdin",
		Long: `Open the segment, or create it with --size bytes if there is none. If it
existed, print "before: " and the string stored at its start (up to the first
NUL byte, at most size-1 bytes). Then read one whitespace-delimited word from
stdin, like scanf("%s"), and store it at the start followed by a NUL byte.
Without a word on stdin nothing is stored. A word longer than size-1 bytes is
an error and nothing is stored. A new segment appears only once it holds the
word: if edit fails (stdin unreadable, the word too long) it creates nothing.
A queue or a semaphore file is refused unless --force is given.

A C program doing the same with shm_open and mmap on /comento_mem (see
examples/mmap) shares its object with "shm edit comento_mem".`,
		Example:           "  echo First | shm edit notes\n  echo Second | shm edit notes   # prints: before: First",
		Args:              exactArgs("NAME"),
		ValidArgsFunction: completeNames(false),
		RunE:              o.run,
	}
	cmd.Flags().Var(&o.size, "size", "size of the segment if it has to be created")
	addForceFlag(cmd, &o.force)
	addDirFlag(cmd, &o.dir)
	return cmd
}

// run opens the segment in an editor and writes back what changed.
func (o *editOptions) run(cmd *cobra.Command, args []string) error {
	name := objectName(o.dir, args[0])
	if err := refuseKind(o.dir, name, "edit", "writing into", o.force); err != nil {
		return err
	}
	stdin := bufio.NewReader(cmd.InOrStdin())
	seg, err := shm.Open(name, shm.Dir(o.dir))
	if errors.Is(err, fs.ErrNotExist) {
		// Read the word first and create the segment with it in
		// place, so that a failure leaves nothing behind.
		if o.size.n <= 0 {
			_, err := shm.Create(name, o.size.n, shm.Dir(o.dir)) // refused: says why
			return err
		}
		var word []byte
		word, err = editWord(name, stdin, o.size.n)
		if err != nil {
			return err
		}
		seg, err = shm.Create(name, o.size.n, shm.Dir(o.dir), shm.Initialize(func(b []byte) error {
			if word != nil {
				copy(b, append(word, 0))
			}
			return nil
		}))
		if !errors.Is(err, fs.ErrExist) {
			if err != nil {
				return err
			}
			return seg.Close()
		}
		// Another process created it meanwhile: edit theirs.
		seg, err = shm.Open(name, shm.Dir(o.dir))
		if err == nil {
			defer seg.Close()
			return editExisting(cmd.OutOrStdout(), seg, func(int64) ([]byte, error) { return word, nil })
		}
	}
	if err != nil {
		return err
	}
	defer seg.Close()
	return editExisting(cmd.OutOrStdout(), seg, func(size int64) ([]byte, error) { return editWord(name, stdin, size) })
}

// editExisting prints the string stored in seg as "before: ", then stores
// the word that word returns for the segment's size, if any.
func editExisting(out io.Writer, seg *shm.Segment, word func(size int64) ([]byte, error)) error {
	before, err := cString(seg, seg.Size()-1)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "before: %s\n", before)
	w, err := word(seg.Size())
	if err != nil || w == nil {
		return errors.Join(err, seg.Close())
	}
	if int64(len(w)) > seg.Size()-1 {
		return &shm.Error{Op: "edit", Name: seg.Name(), Err: fmt.Errorf("%w: the word on stdin is longer than the %d bytes the segment holds before its NUL; nothing was stored", shm.ErrInvalid, max(seg.Size()-1, 0))}
	}
	if _, err := seg.WriteAt(append(w, 0), 0); err != nil {
		return err
	}
	return seg.Close()
}

// editWord reads the word for a segment of size bytes from r: nil when
// there is none, an error when it does not fit before the NUL.
func editWord(name string, r io.ByteReader, size int64) ([]byte, error) {
	room := size - 1 // the word and its NUL must fit
	word, err := readWord(r, max(room, 0)+1)
	if err != nil {
		return nil, &shm.Error{Op: "edit", Name: name, Err: fmt.Errorf("reading stdin: %w", err)}
	}
	if int64(len(word)) > room {
		return nil, &shm.Error{Op: "edit", Name: name, Err: fmt.Errorf("%w: the word on stdin is longer than the %d bytes the segment holds before its NUL; nothing was stored", shm.ErrInvalid, max(room, 0))}
	}
	return word, nil
}

// cString returns the bytes at the start of seg up to the first NUL, at most
// limit of them (printf's "%.*s"). It reads a page at a time, so a large
// segment with a short string costs a short read.
func cString(seg *shm.Segment, limit int64) ([]byte, error) {
	var s []byte
	buf := make([]byte, 4096)
	for off := int64(0); off < limit; off += int64(len(buf)) {
		chunk := buf[:min(int64(len(buf)), limit-off)]
		n, err := seg.ReadAt(chunk, off)
		if i := bytes.IndexByte(chunk[:n], 0); i >= 0 {
			return append(s, chunk[:i]...), nil
		}
		s = append(s, chunk[:n]...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// readWord reads one word as scanf("%s") does: it skips white space, then
// takes bytes up to the next white space or the end of input, but at most
// limit bytes. It returns nil when the input holds no word.
func readWord(r io.ByteReader, limit int64) ([]byte, error) {
	var word []byte
	for int64(len(word)) < limit {
		c, err := r.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if isSpace(c) {
			if word != nil {
				break
			}
			continue
		}
		word = append(word, c)
	}
	return word, nil
}

// isSpace is C's isspace in the C locale.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}
