package standalone

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"
)

// A run that is SIGKILLed (or loses power) cannot remove its hidden temporary output or its work directory. Both
// names carry their owner: this host, the pid and the pid's start time (/proc/<pid>/stat, clock ticks since boot),
// so the next run with the same output or work directory can tell a dead owner's leftovers from a live run's: a pid
// that no longer exists, or exists with another start time (reused), owns nothing. Leftovers of another host (a
// shared filesystem) and names without an owner are never judged.

// owner is this process as leftover names spell it: <pid>-<start>-<host>.
type owner struct {
	pid   int
	start uint64
	host  string // 8 hex digits of the hostname's sha256
}

func (o owner) String() string { return fmt.Sprintf("%d-%d-%s", o.pid, o.start, o.host) }

// self is this process.
func self() (owner, error) {
	start, err := procStart(os.Getpid())
	if err != nil {
		return owner{}, err
	}
	return owner{pid: os.Getpid(), start: start, host: hostTag()}, nil
}

func hostTag() string {
	h, _ := os.Hostname()
	sum := sha256.Sum256([]byte(h))
	return hex.EncodeToString(sum[:4])
}

// procStart is pid's start time in clock ticks since boot (field 22 of /proc/<pid>/stat).
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces and parentheses
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, errors.New("malformed /proc stat")
	}
	return strconv.ParseUint(f[19], 10, 64) // fields after the name start at field 3: 22 is index 19
}

// parseOwner reads "<pid>-<start>-<host>-..." at the start of s.
func parseOwner(s string) (owner, bool) {
	f := strings.SplitN(s, "-", 4)
	if len(f) < 4 {
		return owner{}, false
	}
	pid, err1 := strconv.Atoi(f[0])
	start, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 || len(f[2]) != 8 {
		return owner{}, false
	}
	return owner{pid: pid, start: start, host: f[2]}, true
}

// gone reports whether o is certainly dead: it is of this host and its pid is gone or now another process.
func (o owner) gone() bool {
	if o.host != hostTag() {
		return false
	}
	start, err := procStart(o.pid)
	if err != nil {
		// No /proc entry: dead, unless /proc cannot be read at all (then kill(0) still tells).
		return errors.Is(err, os.ErrNotExist) && errors.Is(syscall.Kill(o.pid, 0), syscall.ESRCH)
	}
	return start != o.start
}

// tempOutputPrefix is the name every temporary output of out begins with; the owner follows it. A long name is
// shortened (its first 48 bytes and a hash of the whole) so that the temporary name, owner and all, fits where the
// output's own name does (CheckOutput allows names up to 230 bytes; a file name may have 255).
func tempOutputPrefix(out string) string {
	base := filepath.Base(out)
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	if len(stem) > 64 {
		cut := 48
		for cut > 0 && !utf8.RuneStart(stem[cut]) {
			cut--
		}
		sum := sha256.Sum256([]byte(base))
		stem = stem[:cut] + "~" + hex.EncodeToString(sum[:4])
	}
	return "." + stem + ".tmp-"
}

// workDirPrefix begins the name of every run's work directory; the owner follows it.
const workDirPrefix = "facefleet-"

// removeStale removes the entries of dir whose names are prefix + a dead owner + anything. It returns what it
// removed; what it cannot remove is left for the next run.
func removeStale(dir, prefix string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		o, ok := parseOwner(rest)
		if !ok || !o.gone() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if os.RemoveAll(p) == nil {
			removed = append(removed, p)
		}
	}
	return removed
}
