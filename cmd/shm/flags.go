package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"unicode"

	"github.com/shmkit/shm"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// sizeFlag is a flag that takes a size such as 64K (see parseSize). A value
// that does not parse is a usage error.
type sizeFlag struct {
	n   int64
	set bool
}

func (f *sizeFlag) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	f.n, f.set = n, true
	return nil
}

// String shows the value exactly, in the largest unit that divides it, so
// that it parses back (the default in --help reads "4K", not "4096").
func (f *sizeFlag) String() string { return exactSize(f.n) }

func (f *sizeFlag) Type() string { return "size" }

func exactSize(n int64) string {
	units := []string{"", "K", "M", "G", "T", "P", "E"}
	i := 0
	for n != 0 && n%1024 == 0 && i < len(units)-1 {
		n /= 1024
		i++
	}
	return strconv.FormatInt(n, 10) + units[i]
}

// modeFlag is a flag that takes permission bits in octal (0640 or 640).
type modeFlag fs.FileMode

func (f *modeFlag) Set(s string) error {
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o777 {
		return fmt.Errorf("invalid mode %q: want octal permission bits 0 to 0777, such as 0640", s)
	}
	*f = modeFlag(n)
	return nil
}

func (f *modeFlag) String() string { return fmt.Sprintf("%#o", uint32(*f)) }
func (f *modeFlag) Type() string   { return "mode" }

// addDirFlag gives cmd the --dir flag every segment command takes.
func addDirFlag(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "dir", shm.DefaultDir, "directory that holds the objects (another tmpfs or a hugetlbfs mount)")
}

// completeNames completes a NAME argument from the objects in --dir, for
// shell completion ("shm completion bash"). With many false, only the first
// argument is a name.
func completeNames(many bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 && !many {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		dir, _ := cmd.Flags().GetString("dir")
		infos, err := shm.List(shm.Dir(dir))
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []cobra.Completion
		for _, info := range infos {
			// A completion is a line: a name with a control character
			// (a newline, say) cannot be one.
			if strings.HasPrefix(info.Name, toComplete) && !strings.ContainsFunc(info.Name, unicode.IsControl) {
				names = append(names, info.Name)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// flagError rewrites a flag's parse error for people: the flag and the
// value, and what the flag wants, instead of the parser's internals
// ("strconv.ParseInt: parsing ..."). The flag types of this package
// (sizes, modes) explain themselves.
func flagError(err error) string {
	var ive *pflag.InvalidValueError
	if !errors.As(err, &ive) {
		return err.Error()
	}
	f := ive.GetFlag()
	name := "--" + f.Name
	if f.Shorthand != "" {
		name = "-" + f.Shorthand + "/--" + f.Name
	}
	if want := flagWants(f.Value.Type()); want != "" {
		return fmt.Sprintf("invalid %s %q: want %s", name, ive.GetValue(), want)
	}
	return fmt.Sprintf("%s: %v", name, errors.Unwrap(err))
}

// flagWants says what a value of a pflag type looks like, or "" for the
// types whose own errors say it.
func flagWants(typ string) string {
	switch typ {
	case "int", "int64":
		return "a whole number"
	case "uint", "uint64":
		return "a whole number from 0"
	case "bool":
		return "true or false"
	case "duration":
		return "a duration such as 500ms, 5s or 2m"
	case "intSlice":
		return "whole numbers separated by commas"
	case "float64":
		return "a number"
	}
	return ""
}
