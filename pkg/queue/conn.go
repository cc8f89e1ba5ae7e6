package queue

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// ConnConfig says how to reach NATS. At most one way to authenticate may be set: User (with Password), Token,
// CredsFile or NKeyFile.
type ConnConfig struct {
	// URL is one server URL or a comma-separated list (nats://host:4222, tls://host:4222).
	URL string
	// Name identifies the connection in server monitoring (e.g. "worker-gpu-3").
	Name string
	// Timeout bounds the initial dial of each server; default 5 s.
	Timeout time.Duration

	User      string
	Password  string
	Token     string
	CredsFile string // a JWT + NKey .creds file
	NKeyFile  string // an NKey seed file

	TLSCAFile   string // trusted root CAs (PEM) for the server certificate
	TLSCertFile string // client certificate (PEM), with TLSKeyFile
	TLSKeyFile  string

	// Logger receives disconnects, reconnects and asynchronous errors; nil discards them.
	Logger *zap.Logger
}

const defaultConnectTimeout = 5 * time.Second

// Validate reports a configuration Connect cannot use.
func (c ConnConfig) Validate() error {
	if strings.TrimSpace(c.URL) == "" {
		return errors.New("queue: connect: URL is required")
	}
	if c.Timeout < 0 {
		return fmt.Errorf("queue: connect: negative Timeout %s", c.Timeout)
	}
	if c.Password != "" && c.User == "" {
		return errors.New("queue: connect: Password without User")
	}
	n := 0
	for _, set := range []bool{c.User != "", c.Token != "", c.CredsFile != "", c.NKeyFile != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return errors.New("queue: connect: set only one of User, Token, CredsFile, NKeyFile")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("queue: connect: TLSCertFile and TLSKeyFile go together")
	}
	return nil
}

// Conn is a NATS connection with its JetStream context.
type Conn struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// Connect dials NATS once and fails fast: there is no retry loop at start-up, and the error is one line. Once
// connected, the client reconnects for as long as the Conn is open (a worker outlives a coordinator restart).
func Connect(ctx context.Context, cfg ConnConfig) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	where := redactURL(cfg.URL)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("queue: connect %s: %w", where, err)
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = defaultConnectTimeout
	}
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
		if timeout <= 0 {
			return nil, fmt.Errorf("queue: connect %s: %w", where, context.DeadlineExceeded)
		}
	}
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.Timeout(timeout),
		nats.RetryOnFailedConnect(false),
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", zap.Error(err))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", zap.String("url", redactURL(nc.ConnectedUrl())))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			f := []zap.Field{zap.Error(err)}
			if sub != nil {
				f = append(f, zap.String("subject", sub.Subject))
			}
			log.Warn("nats async error", f...)
		}),
	}
	switch {
	case cfg.User != "":
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	case cfg.Token != "":
		opts = append(opts, nats.Token(cfg.Token))
	case cfg.CredsFile != "":
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	case cfg.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(cfg.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("queue: connect %s: nkey: %w", where, err)
		}
		opts = append(opts, o)
	}
	if cfg.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.TLSCAFile))
	}
	if cfg.TLSCertFile != "" {
		opts = append(opts, nats.ClientCert(cfg.TLSCertFile, cfg.TLSKeyFile))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, oneLine(fmt.Errorf("queue: connect %s: %w", where, err))
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("queue: connect %s: jetstream: %w", where, err)
	}
	return &Conn{nc: nc, js: js}, nil
}

// Close closes the connection; leases and watches on it stop working. It is safe to call more than once.
func (c *Conn) Close() { c.nc.Close() }

// ErrNotConnected is returned (wrapped) by Connected while the connection is down.
var ErrNotConnected = errors.New("not connected")

// Connected says whether the connection is up now, for readiness probes: it asks the client, not the server, so
// it costs nothing; a server that hangs without closing the connection shows here only once the client's pings
// time out.
func (c *Conn) Connected() error {
	if st := c.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("%w (%s)", ErrNotConnected, strings.ToLower(st.String()))
	}
	return nil
}

// JetStream returns the JetStream context, for what this package does not wrap.
func (c *Conn) JetStream() jetstream.JetStream { return c.js }

// redactURL hides passwords and tokens in a (comma-separated) server URL list, for error messages and logs.
func redactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		if err != nil || u.User == nil {
			parts[i] = p
			continue
		}
		u.User = url.User("redacted")
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// oneLine flattens an error's text (TLS and dial errors sometimes span lines) and keeps its chain for errors.Is.
func oneLine(err error) error {
	return lineError{msg: strings.Join(strings.Fields(err.Error()), " "), err: err}
}

type lineError struct {
	msg string
	err error
}

func (e lineError) Error() string { return e.msg }
func (e lineError) Unwrap() error { return e.err }
