package memory

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The real cgroup hierarchy cannot be changed here (this machine's process is in an unlimited v1 cgroup), so these
// tests write the files the kernel shows into a directory and point a CgroupReader at it.

const testRAM = 64 * GB

// cgroupTree writes files (paths relative to a temporary root: "proc" is /proc/self/cgroup, "fs/..." the cgroup
// mount) and returns a reader of them.
func cgroupTree(t *testing.T, files map[string]string) (CgroupReader, string) {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "fs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return CgroupReader{ProcCgroup: filepath.Join(root, "proc"), Mount: filepath.Join(root, "fs"), RAM: testRAM}, root
}

func n(b uint64) string { return strconv.FormatUint(b, 10) + "\n" }

// v2Stat and v1Stat are memory.stat files shaped like the kernel's, with decoys: v1 has both inactive_file (this
// cgroup's own) and total_inactive_file (with descendants, the one to read).
func v2Stat(inactive uint64) string {
	return "anon 1000\nfile 99\nactive_file 12345\ninactive_file " + strconv.FormatUint(inactive, 10) + "\nslab 7\n"
}

func v1Stat(inactive uint64) string {
	return "cache 5\nrss 6\ninactive_file 1\nhierarchical_memory_limit 9223372036854771712\ntotal_rss 77\ntotal_inactive_file " +
		strconv.FormatUint(inactive, 10) + "\ntotal_active_file 3\n"
}

func TestCgroupRead(t *testing.T) {
	const (
		hybridV1 = "12:pids:/docker/abc\n4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n0::/docker/abc\n"
		scope    = "0::/user.slice/user-1000.slice/session-2.scope\n"
	)
	tests := []struct {
		name  string
		files map[string]string
		want  CgroupInfo // Dir relative to the tree's root
		err   string     // a substring of the error; "" for none
	}{
		{"v2 in a namespace: path / and the files at the mount root", map[string]string{
			"proc": "0::/\n", "fs/memory.max": n(GB), "fs/memory.current": n(512 * mib), "fs/memory.stat": v2Stat(100 * mib),
		}, CgroupInfo{Version: 2, Dir: "fs", Limit: GB, Usage: 512 * mib, InactiveFile: 100 * mib, WorkingSet: 412 * mib}, ""},
		{"v2 max: no limit", map[string]string{
			"proc": "0::/\n", "fs/memory.max": "max\n", "fs/memory.current": n(512 * mib),
		}, CgroupInfo{Version: 2, Dir: "fs"}, ""},
		{"v2 nested, the limit on an ancestor slice: its usage is weighed", map[string]string{
			"proc":                                     scope,
			"fs/user.slice/memory.max":                 n(4 * GB),
			"fs/user.slice/memory.current":             n(3 * GB),
			"fs/user.slice/memory.stat":                v2Stat(GB),
			"fs/user.slice/user-1000.slice/memory.max": "max\n",
			"fs/user.slice/user-1000.slice/session-2.scope/memory.max":     "max\n",
			"fs/user.slice/user-1000.slice/session-2.scope/memory.current": n(100 * mib),
		}, CgroupInfo{Version: 2, Dir: "fs/user.slice", Limit: 4 * GB, Usage: 3 * GB, InactiveFile: GB, WorkingSet: 2 * GB}, ""},
		{"v2 nested, the process's own limit is the smaller", map[string]string{
			"proc":                     scope,
			"fs/user.slice/memory.max": n(4 * GB),
			"fs/user.slice/user-1000.slice/session-2.scope/memory.max":     n(2 * GB),
			"fs/user.slice/user-1000.slice/session-2.scope/memory.current": n(GB),
			"fs/user.slice/user-1000.slice/session-2.scope/memory.stat":    v2Stat(0),
		}, CgroupInfo{Version: 2, Dir: "fs/user.slice/user-1000.slice/session-2.scope", Limit: 2 * GB, Usage: GB, WorkingSet: GB}, ""},
		{"v2 equal limits: the ancestor's, whose usage is the larger", map[string]string{
			"proc":                      "0::/pod/ctr\n",
			"fs/pod/memory.max":         n(2 * GB),
			"fs/pod/memory.current":     n(GB),
			"fs/pod/ctr/memory.max":     n(2 * GB),
			"fs/pod/ctr/memory.current": n(GB / 2),
		}, CgroupInfo{Version: 2, Dir: "fs/pod", Limit: 2 * GB, Usage: GB, WorkingSet: GB}, ""},
		{"v2 no memory controller: no memory files", map[string]string{
			"proc": "0::/\n", "fs/cgroup.controllers": "cpu io pids\n",
		}, CgroupInfo{Version: 2, Dir: "fs"}, ""},
		{"v2 limited, usage and stat missing", map[string]string{
			"proc": "0::/\n", "fs/memory.max": n(GB),
		}, CgroupInfo{Version: 2, Dir: "fs", Limit: GB}, ""},
		{"v2 more inactive page cache than usage: working set 0", map[string]string{
			"proc": "0::/\n", "fs/memory.max": n(GB), "fs/memory.current": n(mib), "fs/memory.stat": v2Stat(2 * mib),
		}, CgroupInfo{Version: 2, Dir: "fs", Limit: GB, Usage: mib, InactiveFile: 2 * mib}, ""},
		{"v2 limit above the machine's RAM: none", map[string]string{
			"proc": "0::/\n", "fs/memory.max": n(2 * testRAM), "fs/memory.current": n(GB),
		}, CgroupInfo{Version: 2, Dir: "fs"}, ""},
		{"v2 an untrusted path cannot leave the mount", map[string]string{
			"proc": "0::/../../etc\n", "fs/memory.max": n(GB), "memory.max": n(mib),
		}, CgroupInfo{Version: 2, Dir: "fs", Limit: GB}, ""},
		{"hybrid with memory on v1", map[string]string{
			"proc": hybridV1,
			"fs/memory/docker/abc/memory.limit_in_bytes": n(2 * GB),
			"fs/memory/docker/abc/memory.usage_in_bytes": n(GB),
			"fs/memory/docker/abc/memory.stat":           v1Stat(256 * mib),
			"fs/unified/docker/abc/memory.max":           n(mib), // not the memory controller's hierarchy here
		}, CgroupInfo{Version: 1, Dir: "fs/memory/docker/abc", Limit: 2 * GB, Usage: GB, InactiveFile: 256 * mib, WorkingSet: 768 * mib}, ""},
		{"hybrid with memory on v2 (unified)", map[string]string{
			"proc":                        "3:cpu,cpuacct:/x\n1:name=systemd:/x\n0::/x\n",
			"fs/unified/x/memory.max":     n(3 * GB),
			"fs/unified/x/memory.current": n(GB),
			"fs/unified/x/memory.stat":    v2Stat(0),
		}, CgroupInfo{Version: 2, Dir: "fs/unified/x", Limit: 3 * GB, Usage: GB, WorkingSet: GB}, ""},
		{"v1 unlimited: the kernel's page-rounded 2^63-1", map[string]string{
			"proc": "4:memory:/\n", "fs/memory/memory.limit_in_bytes": "9223372036854771712\n",
			"fs/memory/memory.usage_in_bytes": n(GB),
		}, CgroupInfo{Version: 1, Dir: "fs/memory"}, ""},
		{"v1 unlimited with 64 KiB pages", map[string]string{
			"proc": "4:memory:/\n", "fs/memory/memory.limit_in_bytes": "9223372036854710272\n",
		}, CgroupInfo{Version: 1, Dir: "fs/memory"}, ""},
		{"v1 huge but under 2^62, above the machine's RAM: none", map[string]string{
			"proc": "4:memory:/\n", "fs/memory/memory.limit_in_bytes": n(1 << 50),
		}, CgroupInfo{Version: 1, Dir: "fs/memory"}, ""},
		{"v1 without a namespace: the path is not there, the container's cgroup is the mount root", map[string]string{
			"proc": "4:memory:/kubepods/pod1/ctr\n", "fs/memory/memory.limit_in_bytes": n(GB),
			"fs/memory/memory.usage_in_bytes": n(GB / 2), "fs/memory/memory.stat": v1Stat(0),
		}, CgroupInfo{Version: 1, Dir: "fs/memory", Limit: GB, Usage: GB / 2, WorkingSet: GB / 2}, ""},
		{"v1 limit on the parent (pod) smaller than the container's", map[string]string{
			"proc":                                    "4:memory:/pod/ctr\n",
			"fs/memory/memory.limit_in_bytes":         "9223372036854771712\n",
			"fs/memory/pod/memory.limit_in_bytes":     n(GB),
			"fs/memory/pod/memory.usage_in_bytes":     n(GB / 4),
			"fs/memory/pod/ctr/memory.limit_in_bytes": n(2 * GB),
		}, CgroupInfo{Version: 1, Dir: "fs/memory/pod", Limit: GB, Usage: GB / 4, WorkingSet: GB / 4}, ""},
		{"no /proc/self/cgroup", map[string]string{}, CgroupInfo{}, ""},
		{"no memory controller at all", map[string]string{
			"proc": "3:cpu,cpuacct:/\n1:name=systemd:/\n",
		}, CgroupInfo{}, ""},
		{"v1 memory files missing", map[string]string{"proc": "4:memory:/x\n"}, CgroupInfo{Version: 1, Dir: "fs/memory"}, ""},
		{"garbage /proc/self/cgroup", map[string]string{"proc": "hello\n"}, CgroupInfo{}, "proc: line 1"},
		{"/proc/self/cgroup path not absolute", map[string]string{"proc": "0::x\n"}, CgroupInfo{}, "proc: line 1"},
		{"garbage memory.max", map[string]string{
			"proc": "0::/\n", "fs/memory.max": "lots\n",
		}, CgroupInfo{}, "memory.max: \"lots\""},
		{"negative v1 limit", map[string]string{
			"proc": "4:memory:/\n", "fs/memory/memory.limit_in_bytes": "-1\n",
		}, CgroupInfo{}, "memory.limit_in_bytes: \"-1\""},
		{"garbage memory.current", map[string]string{
			"proc": "0::/\n", "fs/memory.max": n(GB), "fs/memory.current": "12 MB\n",
		}, CgroupInfo{}, "memory.current"},
		{"garbage inactive_file", map[string]string{
			"proc": "0::/\n", "fs/memory.max": n(GB), "fs/memory.current": n(GB), "fs/memory.stat": "inactive_file lots\n",
		}, CgroupInfo{}, "memory.stat: inactive_file"},
		{"a memory.stat line with an extra field", map[string]string{
			"proc": "4:memory:/\n", "fs/memory/memory.limit_in_bytes": n(GB), "fs/memory/memory.stat": "total_inactive_file 1 2\n",
		}, CgroupInfo{}, "memory.stat"},
		{"a memory.max far longer than the kernel writes", map[string]string{
			"proc": "0::/\n", "fs/memory.max": strings.Repeat("9", cgroupFileMax+1),
		}, CgroupInfo{}, "memory.max: longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, root := cgroupTree(t, tc.files)
			got, err := r.Read()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Read() = %+v, %v; want an error saying %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if want.Dir != "" {
				want.Dir = filepath.Join(root, want.Dir)
			}
			if got != want {
				t.Errorf("Read() = %+v\n          want %+v", got, want)
			}
			if got.Limited() != (want.Limit > 0) {
				t.Errorf("Limited() = %v", got.Limited())
			}
		})
	}
}

// The real reader on this machine must not fail, and it names a version when /proc/self/cgroup has a memory line.
func TestCgroupReadReal(t *testing.T) {
	got, err := CgroupReader{}.Read()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("this machine: %+v", got)
}

func TestContainerBudget(t *testing.T) {
	limited := func(limit uint64) CgroupInfo { return CgroupInfo{Version: 2, Limit: limit} }
	tests := []struct {
		name      string
		maxMemory uint64
		c         CgroupInfo
		want      uint64
		note      []string // substrings of the note; none: no note
	}{
		{"no limit, no budget", 0, CgroupInfo{}, 0, nil},
		{"no limit: --max-memory as given", 3 * GB, CgroupInfo{Version: 1}, 3 * GB, nil},
		{"4 GiB limit, no flag: 10% off", 0, limited(4 * GB), 4*GB - 4*GB/10, nil},
		{"64 GiB limit, no flag: 10% off", 0, limited(64 * GB), 64*GB - 64*GB/10, nil},
		{"1 GiB limit, no flag: the 256 MiB floor", 0, limited(GB), GB - 256*mib, nil},
		{"300 MiB limit: at most half", 0, limited(300 * mib), 150 * mib, nil},
		{"flag under the limit less the margin: the flag", 2 * GB, limited(4 * GB), 2 * GB, nil},
		{"flag exactly the limit less the margin: the flag", 4*GB - 4*GB/10, limited(4 * GB), 4*GB - 4*GB/10, nil},
		{"flag above the limit: the container wins, with a warning", 8 * GB, limited(4 * GB), 4*GB - 4*GB/10,
			[]string{"--max-memory 8.00 GB", "limit 4.00 GB", "0.40 GB margin", "budget is 3.60 GB"}},
		{"flag equal to the limit: the margin still applies", 4 * GB, limited(4 * GB), 4*GB - 4*GB/10,
			[]string{"--max-memory 4.00 GB", "budget is 3.60 GB"}},
	}
	for _, tc := range tests {
		got, note := ContainerBudget(tc.maxMemory, tc.c)
		if got != tc.want {
			t.Errorf("%s: budget %d, want %d", tc.name, got, tc.want)
		}
		if (note == "") != (len(tc.note) == 0) || strings.Contains(note, "\n") {
			t.Errorf("%s: note %q", tc.name, note)
		}
		for _, s := range tc.note {
			if !strings.Contains(note, s) {
				t.Errorf("%s: note %q does not say %q", tc.name, note, s)
			}
		}
	}
}

// In a limited cgroup, Sample weighs the larger of the tree's RSS and the cgroup's working set, and S: is the
// container's; outside one it is RSS and the machine's.
func TestSamplerCgroup(t *testing.T) {
	const limit = 10 * GB
	tests := []struct {
		name       string
		files      map[string]string
		workingSet uint64 // 0: charged is RSS
		systemPct  float64
		machinePct bool // SystemPct is the machine's, not checked exactly
		err        string
	}{
		{"working set above RSS: charged is the working set", map[string]string{
			"proc": "0::/\n", "fs/memory.max": n(limit), "fs/memory.current": n(9 * GB), "fs/memory.stat": v2Stat(GB),
		}, 8 * GB, 80, false, ""},
		{"working set below RSS (shared pages charged elsewhere): charged is RSS", map[string]string{
			"proc": "4:memory:/\n", "fs/memory/memory.limit_in_bytes": n(limit), "fs/memory/memory.usage_in_bytes": n(2 * mib),
			"fs/memory/memory.stat": v1Stat(mib),
		}, 0, float64(mib) / limit * 100, false, ""},
		{"no limit: RSS and the machine", map[string]string{"proc": "0::/\n", "fs/memory.max": "max\n"}, 0, 0, true, ""},
		{"garbage limit: the tree's and the machine's numbers, and an error naming the file", map[string]string{
			"proc": "0::/\n", "fs/memory.max": "x\n"}, 0, 0, true, "memory.max: \"x\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := cgroupTree(t, tc.files)
			s, err := NewSampler(os.Getpid()).WithCgroup(&r).Sample()
			if tc.err != "" {
				if !errors.Is(err, ErrCgroup) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Sample() = %+v, %v; want an ErrCgroup saying %q", s, err, tc.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			want := max(s.RSS, tc.workingSet)
			if s.Charged != want || s.RSS == 0 || s.PeakRSS < s.RSS {
				t.Errorf("Sample() = %+v; want Charged %d", s, want)
			}
			if !tc.machinePct && s.SystemPct != tc.systemPct {
				t.Errorf("SystemPct %.4f, want %.4f", s.SystemPct, tc.systemPct)
			}
			if tc.machinePct && (s.SystemPct <= 0 || s.SystemPct > 100) {
				t.Errorf("SystemPct %.4f, want the machine's", s.SystemPct)
			}
		})
	}
}
