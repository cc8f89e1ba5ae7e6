package cli

import (
	"bufio"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freePort is a TCP port on 127.0.0.1 nothing listens on now, below Linux's ephemeral range (32768-60999): a port
// the kernel picked for Listen(":0") is also one it may give the next outgoing connection of any test running
// beside this one, and the script's daemons bind theirs a second or more later (the likely reason a coordinator
// exited at start once while internal/e2e ran in parallel).
func freePort(t *testing.T) string {
	t.Helper()
	for i := 0; i < 100; i++ {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		l.Close()
		return strconv.Itoa(port)
	}
	t.Fatal("no free port in 20000-31999")
	return ""
}

// alive reports whether pid is a process that has not exited (a zombie counts as exited).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// make cluster's script on free ports with a fresh state dir and a config file in a directory that does not exist
// yet: it writes the file; a worker killed with SIGKILL is reported in one line and started again while every other
// process keeps running; SIGTERM (as Ctrl-C) stops them all.
func TestClusterScript(t *testing.T) {
	root, _ := filepath.Abs("../..")
	home, _ := os.UserHomeDir()
	cache := filepath.Join(home, ".cache", "facefleet")
	for _, p := range []string{filepath.Join(root, "bin", "coordinator"), filepath.Join(root, "bin", "worker"),
		filepath.Join(cache, "bin", "nats-server"), filepath.Join(cache, "bin", "versitygw")} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("needs make setup and make build: %v", err)
		}
	}
	noConfigFile(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "new", "config.yaml")
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "cluster.sh"))
	cmd.Env = append(os.Environ(), "FACEFLEET_CONFIG="+config, "FACEFLEET_CLUSTER_DIR="+filepath.Join(dir, "state"),
		"CLUSTER_NATS_PORT="+freePort(t), "CLUSTER_S3_PORT="+freePort(t), "CLUSTER_HTTP_PORT="+freePort(t))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pids := map[string]int{}
	t.Cleanup(func() {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var seen []string
	started := regexp.MustCompile(`^cluster: started (\S+): pid (\d+),`)
	// until reads the script's output until a line matches want; it fails the test if the script ends first.
	until := func(want string) string {
		t.Helper()
		timeout := time.After(5 * time.Minute) // a guard against a hang, not a timing assertion
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the script ended before %q:\n%s", want, strings.Join(seen, "\n"))
				}
				seen = append(seen, l)
				if m := started.FindStringSubmatch(l); m != nil {
					pids[m[1]], _ = strconv.Atoi(m[2])
				}
				if strings.Contains(l, want) {
					return l
				}
			case <-timeout:
				t.Fatalf("no %q:\n%s", want, strings.Join(seen, "\n"))
			}
		}
	}
	dash := strings.Fields(strings.TrimPrefix(until("cluster: dashboard: "), "cluster: dashboard: "))[0]
	until("cluster ready")
	if !serves(dash) {
		t.Errorf("the dashboard %s the script printed does not answer", dash)
	}
	if b, err := os.ReadFile(config); err != nil || !strings.HasPrefix(string(b), "# written by make cluster") {
		t.Fatalf("config %s: %v", config, err)
	}
	victim := pids["worker-1"]
	others := map[string]int{}
	for name, pid := range pids {
		if name != "worker-1" {
			others[name] = pid
		}
	}
	if len(others) != 4 {
		t.Fatalf("started %v", pids)
	}
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if l := until("worker-1 (pid " + strconv.Itoa(victim) + ") exited"); !strings.Contains(l, "restarting it") {
		t.Fatalf("report: %q", l)
	}
	until("started worker-1")
	if pids["worker-1"] == victim || !alive(pids["worker-1"]) {
		t.Fatalf("worker-1 not restarted: %v", pids)
	}
	for name, pid := range others {
		if !alive(pid) {
			t.Errorf("%s (pid %d) stopped when worker-1 died:\n%s", name, pid, strings.Join(seen, "\n"))
		}
	}
	// SIGTERM, which the script handles as Ctrl-C: a shell that started the test in the background may have left
	// SIGINT ignored, and an ignored signal stays ignored in every child.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v", err)
	}
	for name, pid := range pids {
		if alive(pid) {
			t.Errorf("%s (pid %d) still running after SIGTERM", name, pid)
		}
	}
}

// make cluster writes the client settings first (`cluster.sh config`), to a FACEFLEET_CONFIG that does not exist
// yet, and only then runs setup, whose commands read that file: they must find it and accept it.
func TestClusterConfigFirst(t *testing.T) {
	root, _ := filepath.Abs("../..")
	coordinator := filepath.Join(root, "bin", "coordinator")
	if _, err := os.Stat(coordinator); err != nil {
		t.Skipf("needs make build: %v", err)
	}
	noConfigFile(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "missing", "config.yaml")
	env := append(os.Environ(), "FACEFLEET_CONFIG="+config, "FACEFLEET_CLUSTER_DIR="+filepath.Join(dir, "state"),
		"CLUSTER_NATS_PORT="+freePort(t), "CLUSTER_S3_PORT="+freePort(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	script := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "cluster.sh"), "config")
	script.Env = env
	if out, err := script.CombinedOutput(); err != nil || !strings.Contains(string(out), "client settings written to "+config) {
		t.Fatalf("cluster.sh config: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(config); err != nil || !strings.HasPrefix(string(b), "# written by make cluster") {
		t.Fatalf("config %s: %v", config, err)
	}
	if files(t, filepath.Join(dir, "state", "logs")) != nil {
		t.Fatal("cluster.sh config started processes")
	}
	list := exec.CommandContext(ctx, coordinator, "models", "list", "--models-dir", dir)
	list.Env = env
	if out, err := list.CombinedOutput(); err != nil {
		t.Fatalf("a setup command with the new config: %v\n%s", err, out)
	}
}

// serves reports whether url answers 200 with the dashboard's page, polling while the coordinator starts.
func serves(url string) bool {
	for i := 0; i < 600; i++ { // a guard against a hang, not a timing assertion
		if resp, err := http.Get(url); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(string(b), "<title>Facefleet</title>") {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}
