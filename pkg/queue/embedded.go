package queue

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
)

// EmbeddedConfig configures an in-process nats-server with JetStream.
type EmbeddedConfig struct {
	// Dir is the JetStream file store directory (required). A server started again on the same Dir finds its
	// file-storage streams and buckets.
	Dir string
	// Host is the listen address; default 127.0.0.1.
	Host string
	// Port is the client port; -1 (and 0) pick a free port.
	Port int
	// Logger receives the server's log lines; nil keeps the server silent.
	Logger *zap.Logger
}

const embeddedReadyTimeout = 5 * time.Second

func (c EmbeddedConfig) withDefaults() EmbeddedConfig {
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.Port == 0 {
		c.Port = -1
	}
	return c
}

// Validate reports a configuration StartEmbedded cannot use.
func (c EmbeddedConfig) Validate() error {
	if strings.TrimSpace(c.Dir) == "" {
		return errors.New("queue: embedded: Dir is required")
	}
	if c.Port < -1 || c.Port > 65535 {
		return fmt.Errorf("queue: embedded: Port %d out of range", c.Port)
	}
	return nil
}

// Embedded is a running in-process nats-server.
type Embedded struct {
	srv  *server.Server
	once sync.Once
}

// StartEmbedded starts a server and waits (up to 5 s) until it accepts connections.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	opts := &server.Options{
		Host:      cfg.Host,
		Port:      cfg.Port,
		JetStream: true,
		StoreDir:  cfg.Dir,
		NoSigs:    true,
		NoLog:     cfg.Logger == nil,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("queue: embedded: %w", err)
	}
	if cfg.Logger != nil {
		srv.SetLoggerV2(serverLogger{cfg.Logger.Sugar().With(zap.String("component", "nats-server"))}, false, false, false)
	}
	srv.Start() // returns once the listener is up: ReadyForConnections then passes without its 25 ms polls
	if !srv.ReadyForConnections(embeddedReadyTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("queue: embedded: server on %s:%d not ready after %s", cfg.Host, cfg.Port, embeddedReadyTimeout)
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, errors.New("queue: embedded: JetStream did not start")
	}
	return &Embedded{srv: srv}, nil
}

// URL is the client URL for this machine, e.g. nats://127.0.0.1:41234 (a server listening on all interfaces is
// reached through the loopback address).
func (e *Embedded) URL() string {
	addr, ok := e.srv.Addr().(*net.TCPAddr)
	if !ok {
		return e.srv.ClientURL()
	}
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "nats://" + net.JoinHostPort(host, strconv.Itoa(addr.Port))
}

// Shutdown stops the server and waits until it has stopped. It is safe to call more than once.
func (e *Embedded) Shutdown() {
	e.once.Do(func() {
		// JetStream first: a server shutting down with JetStream on tells every pending pull request (a worker's
		// Fetch waits on one even after the worker stopped) that it is going away, then sleeps 50 ms for that
		// message to leave, a tenth of a short job's fixed cost. The embedded server's clients are this process's.
		_ = e.srv.ShutdownJetStream()
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
	})
}

// serverLogger adapts zap to nats-server's Logger interface. Server lines are preformatted, so they go in as
// messages rather than fields.
type serverLogger struct{ l *zap.SugaredLogger }

func (s serverLogger) Noticef(format string, v ...any) { s.l.Infof(format, v...) }
func (s serverLogger) Warnf(format string, v ...any)   { s.l.Warnf(format, v...) }
func (s serverLogger) Fatalf(format string, v ...any)  { s.l.Errorf(format, v...) }
func (s serverLogger) Errorf(format string, v ...any)  { s.l.Errorf(format, v...) }
func (s serverLogger) Debugf(format string, v ...any)  { s.l.Debugf(format, v...) }
func (s serverLogger) Tracef(format string, v ...any)  { s.l.Debugf(format, v...) }
