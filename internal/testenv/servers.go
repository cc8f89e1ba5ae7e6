package testenv

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// NATSServerBin is the nats-server binary: $FACEFLEET_NATS_SERVER, else nats-server in the bin directory of the
// Facefleet cache that `make setup` fills.
func NATSServerBin(tb testing.TB) string {
	tb.Helper()
	return toolBin(tb, "FACEFLEET_NATS_SERVER", "nats-server")
}

// VersityGWBin is the versitygw (S3 gateway) binary: $FACEFLEET_VERSITYGW, else versitygw in the cache's bin.
func VersityGWBin(tb testing.TB) string {
	tb.Helper()
	return toolBin(tb, "FACEFLEET_VERSITYGW", "versitygw")
}

func toolBin(tb testing.TB, env, name string) string {
	tb.Helper()
	p := os.Getenv(env)
	if p == "" {
		p = filepath.Join(cacheDir(), "bin", name)
	}
	if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		tb.Fatalf("%s binary not found at %s (run make setup, or set %s)", name, p, env)
	}
	return p
}

// cacheDir is $FACEFLEET_CACHE or ~/.cache/facefleet, as in scripts/setup.sh.
func cacheDir() string {
	if d := os.Getenv("FACEFLEET_CACHE"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "facefleet")
}

// NATSOptions configures StartNATS. Zero values mean no authentication and no TLS.
type NATSOptions struct {
	User, Password string // user/password authorization, when User is set
	Token          string // token authorization, when set
	TLS            *TLSFiles
	JetStreamDir   string // JetStream store; a fresh temporary directory when empty
	Monitor        bool   // serve the monitoring endpoints (/varz, /jsz) on 127.0.0.1:MonitorPort
}

// NATSServer is a nats-server process on 127.0.0.1.
type NATSServer struct {
	URL  string // nats://127.0.0.1:port, or tls:// with TLS
	Port int
	// MonitorPort is the monitoring port on 127.0.0.1 with NATSOptions.Monitor, else 0.
	MonitorPort int
	proc        *process
	args        []string
}

// Stop kills the server now rather than at the end of the test; calling it again does nothing.
func (s *NATSServer) Stop() { s.proc.stop() }

// PID is the server process's id (for its CPU time in /proc).
func (s *NATSServer) PID() int { return s.proc.cmd.Process.Pid }

// StartNATS runs nats-server with JetStream on a free port and stops it when the test ends.
func StartNATS(tb testing.TB, opt NATSOptions) *NATSServer {
	tb.Helper()
	bin := NATSServerBin(tb)
	dir := tb.TempDir()
	store := opt.JetStreamDir
	if store == "" {
		store = filepath.Join(dir, "jetstream")
	}
	scheme := "nats"
	if opt.TLS != nil {
		scheme = "tls"
	}
	var port, monitor int
	proc := startWithPort(tb, "nats-server", func(p int) []string {
		port = p
		if opt.Monitor {
			monitor = freePort(tb)
		}
		conf := filepath.Join(dir, "nats.conf")
		if err := os.WriteFile(conf, []byte(natsConfig(p, monitor, store, opt)), 0o600); err != nil {
			tb.Fatalf("nats-server config: %v", err)
		}
		return []string{bin, "-c", conf}
	})
	return &NATSServer{URL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, port), Port: port, MonitorPort: monitor, proc: proc,
		args: []string{bin, "-c", filepath.Join(dir, "nats.conf")}}
}

// Restart starts a stopped server again on the same port with the same configuration and JetStream store (a file
// store on disk, so streams and buckets survive): what clients see after the server's own restart.
func (s *NATSServer) Restart(tb testing.TB) {
	tb.Helper()
	s.proc.stop()
	p, err := startProcess(tb, "nats-server", s.args, s.Port)
	if err != nil {
		tb.Fatalf("nats-server restart: %v\n%s", err, p.tail())
	}
	tb.Cleanup(p.stop)
	s.proc = p
}

// Kill kills the server with SIGKILL (no shutdown: what a crash or an OOM kill leaves of its store) and waits for
// it to exit.
func (s *NATSServer) Kill() { s.proc.kill() }

// Pause stops the server's process (SIGSTOP): connections stay open and nothing answers, as with a hung server or
// a lost network. Resume continues it.
func (s *NATSServer) Pause() { s.proc.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *NATSServer) Resume() { s.proc.signal(syscall.SIGCONT) }

func natsConfig(port, monitor int, store string, opt NATSOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: \"127.0.0.1:%d\"\n", port)
	if monitor != 0 {
		fmt.Fprintf(&b, "http: \"127.0.0.1:%d\"\n", monitor)
	}
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %s\n}\n", strconv.Quote(store))
	switch {
	case opt.User != "":
		fmt.Fprintf(&b, "authorization {\n  user: %s\n  password: %s\n}\n", strconv.Quote(opt.User), strconv.Quote(opt.Password))
	case opt.Token != "":
		fmt.Fprintf(&b, "authorization {\n  token: %s\n}\n", strconv.Quote(opt.Token))
	}
	if t := opt.TLS; t != nil {
		fmt.Fprintf(&b, "tls {\n  cert_file: %s\n  key_file: %s\n  ca_file: %s\n}\n",
			strconv.Quote(t.Cert), strconv.Quote(t.Key), strconv.Quote(t.CA))
	}
	return b.String()
}

// S3Options configures StartS3. Empty credentials are generated.
type S3Options struct {
	AccessKey, Secret string
	TLS               *TLSFiles
	AccessLog         string // when set, versitygw logs every request to this file (one line each)
}

// S3Server is a versitygw process serving the S3 API on 127.0.0.1 from a posix directory (one subdirectory per
// bucket). It starts with no buckets.
type S3Server struct {
	Endpoint  string // 127.0.0.1:port, no scheme
	AccessKey string
	Secret    string
	Dir       string
	proc      *process
	args      []string
	port      int
}

// Stop kills the server now rather than at the end of the test; calling it again does nothing.
func (s *S3Server) Stop() { s.proc.stop() }

// PID is the server process's id (for its CPU time in /proc).
func (s *S3Server) PID() int { return s.proc.cmd.Process.Pid }

// Restart starts a stopped server again on the same port and directory: what clients see after an outage.
func (s *S3Server) Restart(tb testing.TB) {
	tb.Helper()
	s.proc.stop()
	p, err := startProcess(tb, "versitygw", s.args, s.port)
	if err != nil {
		tb.Fatalf("versitygw restart: %v\n%s", err, p.tail())
	}
	tb.Cleanup(p.stop)
	s.proc = p
}

// Pause stops the server's process (SIGSTOP): connections stay open and nothing answers. Resume continues it.
func (s *S3Server) Pause() { s.proc.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *S3Server) Resume() { s.proc.signal(syscall.SIGCONT) }

// StartS3 runs versitygw on a free port and stops it when the test ends.
func StartS3(tb testing.TB, opt S3Options) *S3Server {
	tb.Helper()
	bin := VersityGWBin(tb)
	s := &S3Server{AccessKey: opt.AccessKey, Secret: opt.Secret, Dir: tb.TempDir()}
	if s.AccessKey == "" {
		s.AccessKey = "AK" + randomHex(tb, 9)
	}
	if s.Secret == "" {
		s.Secret = randomHex(tb, 20)
	}
	s.proc = startWithPort(tb, "versitygw", func(port int) []string {
		s.Endpoint = fmt.Sprintf("127.0.0.1:%d", port)
		args := []string{bin, "--access", s.AccessKey, "--secret", s.Secret, "--port", s.Endpoint, "--quiet"}
		if opt.TLS != nil {
			args = append(args, "--cert", opt.TLS.Cert, "--key", opt.TLS.Key)
		}
		if opt.AccessLog != "" {
			args = append(args, "--access-log", opt.AccessLog)
		}
		s.args, s.port = append(args, "posix", s.Dir), port
		return s.args
	})
	return s
}

func randomHex(tb testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return strings.ToUpper(hex.EncodeToString(b))
}

// process is one server child process with its log file.
type process struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited
	once sync.Once
}

// startWithPort starts the command args(port) on a free port and waits until the port accepts connections. Ports
// are picked by binding :0 and closing, so another process can take one first; that start is retried.
func startWithPort(tb testing.TB, name string, args func(port int) []string) *process {
	tb.Helper()
	const attempts = 3
	for i := 1; ; i++ {
		port := freePort(tb)
		p, err := startProcess(tb, name, args(port), port)
		if err == nil {
			tb.Cleanup(func() {
				if tb.Failed() {
					tb.Logf("%s log tail:\n%s", name, p.tail())
				}
				p.stop()
			})
			return p
		}
		if i == attempts || !strings.Contains(p.tail(), "address already in use") {
			tb.Fatalf("%s: %v\n%s log tail:\n%s", name, err, name, p.tail())
		}
	}
}

// FreeAddr is "127.0.0.1:<port>" with a port nothing listens on now (an HTTP server's --http-addr in a test).
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePort(tb))
}

// freePort returns a port free now, below the kernel's range of ephemeral ports where it can: a port the kernel
// handed out as free (listening on :0) comes from that range, and between its release and the server's listen, an
// outgoing connection could take it as its own local port ("bind: address already in use" for one of 64 workers
// started beside each other's S3 and NATS connections in BenchmarkScale).
func freePort(tb testing.TB) int {
	tb.Helper()
	if low := ephemeralLow(); low > 2048 {
		portMu.Lock()
		defer portMu.Unlock()
		for range 200 {
			nextPort = nextPort%(low/2) + 1 // cycles through [low/2, low)
			port := low/2 + nextPort
			if port >= low {
				continue
			}
			if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				l.Close()
				return port
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var (
	portMu   sync.Mutex
	nextPort = os.Getpid() % 4096 // processes testing at once start apart
)

// ephemeralLow is the first port of the kernel's ephemeral range (0 if unknown).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	low, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return low
}

// startProcess starts args, logging to a file, and waits up to 10 s for port to accept. On error the process is
// stopped and its log is still readable.
func startProcess(tb testing.TB, name string, args []string, port int) (*process, error) {
	log := filepath.Join(tb.TempDir(), name+".log")
	f, err := os.Create(log)
	if err != nil {
		return &process{log: log}, err
	}
	defer f.Close() // the child holds its own descriptor
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	// A test binary killed by its timeout runs no cleanups; the kernel then kills the server too (Linux only, like
	// the rest of Facefleet).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &process{cmd: cmd, log: log, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		close(p.done)
		return p, err
	}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.done:
			return p, fmt.Errorf("exited before listening on %s: %v", addr, cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return p, fmt.Errorf("not listening on %s after 10s", addr)
		}
	}
}

// stop sends SIGTERM, then SIGKILL after 3 s, and waits for the exit.
func (p *process) stop() {
	p.once.Do(func() {
		if p.cmd == nil || p.cmd.Process == nil {
			return
		}
		select {
		case <-p.done:
			return
		default:
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.cmd.Process.Signal(syscall.SIGCONT) // a paused server gets its SIGTERM
		select {
		case <-p.done:
		case <-time.After(3 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// kill sends SIGKILL and waits for the exit; a later stop finds it done.
func (p *process) kill() {
	p.signal(syscall.SIGKILL)
	if p.done != nil {
		<-p.done
	}
}

// signal sends sig to a running process; a process that has exited is left alone.
func (p *process) signal(sig syscall.Signal) {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(sig)
	}
}

// tail is the end of the log, enough to show why a server failed.
func (p *process) tail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	const n = 4000
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// TLSFiles are PEM files: a CA certificate, and a server certificate for 127.0.0.1, ::1 and localhost signed by
// it, with its key.
type TLSFiles struct {
	CA, Cert, Key string
}

// NewTLSFiles generates a fresh CA and server certificate (ECDSA P-256) in a temporary directory.
func NewTLSFiles(tb testing.TB) TLSFiles {
	tb.Helper()
	dir := tb.TempDir()
	ca, caKey := newCA(tb)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(tb),
		Subject:      pkix.Name{CommonName: "facefleet test server"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	f := TLSFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	writePEM(tb, f.CA, "CERTIFICATE", ca.Raw)
	writePEM(tb, f.Cert, "CERTIFICATE", der)
	writePEM(tb, f.Key, "PRIVATE KEY", keyDER)
	return f
}

// NewOtherCA writes a CA certificate that signed nothing, to show that a client trusting only it rejects the
// server of NewTLSFiles. It returns the PEM file's path.
func NewOtherCA(tb testing.TB) string {
	tb.Helper()
	ca, _ := newCA(tb)
	p := filepath.Join(tb.TempDir(), "other-ca.pem")
	writePEM(tb, p, "CERTIFICATE", ca.Raw)
	return p
}

func newCA(tb testing.TB) (*x509.Certificate, *ecdsa.PrivateKey) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(tb),
		Subject:               pkix.Name{CommonName: "facefleet test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return ca, key
}

func serial(tb testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func writePEM(tb testing.TB, path, typ string, der []byte) {
	tb.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
}
