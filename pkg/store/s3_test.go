package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/fault"
	"github.com/facefleet/facefleet/pkg/store"
	"github.com/facefleet/facefleet/pkg/store/storetest"
)

// bucketSeq names a fresh bucket per store, so subtests sharing one server never see each other's blobs.
var bucketSeq atomic.Int64

func newS3(t testing.TB, srv *testenv.S3Server) *store.S3 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := store.NewS3(ctx, store.S3Config{
		Endpoint:     srv.Endpoint,
		Bucket:       fmt.Sprintf("facefleet-test-%03d", bucketSeq.Add(1)),
		AccessKey:    srv.AccessKey,
		SecretKey:    srv.Secret,
		CreateBucket: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestS3Conformance(t *testing.T) {
	srv := testenv.StartS3(t, testenv.S3Options{})
	storetest.Run(t, func(t *testing.T) store.Blob { return newS3(t, srv) })
}

// TestS3Multipart covers what the conformance suite's 5 MiB blob does not reach: blobs over one 16 MiB part.
func TestS3Multipart(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads ~100 MB")
	}
	srv := testenv.StartS3(t, testenv.S3Options{})
	b := newS3(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const size = 2*16<<20 + 1234 // three parts
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7 / 3)
	}
	src := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	puts := []struct {
		key string
		put func(key string) error
	}{
		{"known", func(k string) error { return b.Put(ctx, k, bytes.NewReader(data), size) }},
		{"unknown", func(k string) error { return b.Put(ctx, k, io.MultiReader(bytes.NewReader(data)), -1) }},
		{"file", func(k string) error { return b.PutFile(ctx, k, src) }},
	}
	want := sha256.Sum256(data)
	for _, p := range puts {
		if err := p.put(p.key); err != nil {
			t.Fatalf("%s: %v", p.key, err)
		}
		h := sha256.New()
		if err := b.Get(ctx, p.key, h); err != nil {
			t.Fatalf("%s: %v", p.key, err)
		}
		if !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatalf("%s: content changed on the round trip", p.key)
		}
	}
	// A reader one byte too long, or short, fails in the last part and leaves nothing behind.
	for _, n := range []int64{size - 1, size + 1} {
		if err := b.Put(ctx, "mismatch", bytes.NewReader(data), n); err == nil || !strings.Contains(err.Error(), "size mismatch") {
			t.Fatalf("Put of %d bytes with size %d = %v, want a size mismatch", size, n, err)
		}
	}
	if _, err := b.Stat(ctx, "mismatch"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("failed multipart Put left a blob: %v", err)
	}
	// ...and no multipart upload keeps its parts on the server.
	raw, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.Secret, "")})
	if err != nil {
		t.Fatal(err)
	}
	for up := range raw.ListIncompleteUploads(ctx, b.Bucket(), "", true) {
		t.Errorf("upload left behind: %+v", up)
	}
}

// TestS3PutSizeEdges covers sizes the conformance suite leaves out, around the empty blob that minio uploads
// without reading.
func TestS3PutSizeEdges(t *testing.T) {
	b := newS3(t, testenv.StartS3(t, testenv.S3Options{}))
	ctx := context.Background()
	cases := []struct {
		data string
		size int64
		ok   bool
	}{
		{"", 0, true}, {"a", 0, false}, {"", 1, false}, {"a", 1, true}, {"ab", 1, false}, {"a", -1, true}, {"", -1, true},
	}
	for _, tc := range cases {
		key := fmt.Sprintf("k-%d-%d", len(tc.data), tc.size)
		err := b.Put(ctx, key, strings.NewReader(tc.data), tc.size)
		if (err == nil) != tc.ok {
			t.Errorf("Put(%q, size %d) = %v, want ok=%v", tc.data, tc.size, err, tc.ok)
		}
		_, serr := b.Stat(ctx, key)
		if tc.ok != (serr == nil) {
			t.Errorf("after Put(%q, size %d): Stat = %v", tc.data, tc.size, serr)
		}
	}
}

func TestS3ConfigValidate(t *testing.T) {
	ok := store.S3Config{Endpoint: "127.0.0.1:9000", Bucket: "media", AccessKey: "a", SecretKey: "s"}
	cases := []struct {
		name string
		edit func(*store.S3Config)
		bad  string // substring of the error; "" means valid
	}{
		{"ok", func(*store.S3Config) {}, ""},
		{"https url", func(c *store.S3Config) { c.Endpoint = "https://s3.example.com/"; c.CAFile = "ca.pem" }, ""},
		{"key files", func(c *store.S3Config) { c.AccessKey, c.SecretKey, c.AccessKeyFile, c.SecretKeyFile = "", "", "a", "s" }, ""},
		{"no endpoint", func(c *store.S3Config) { c.Endpoint = " " }, "Endpoint is required"},
		{"endpoint path", func(c *store.S3Config) { c.Endpoint = "http://h:1/bucket" }, "nothing else"},
		{"endpoint scheme", func(c *store.S3Config) { c.Endpoint = "ftp://h:1" }, "http or https"},
		{"http with TLS", func(c *store.S3Config) { c.Endpoint = "http://h:1"; c.TLS = true }, "TLS is set"},
		{"CA without TLS", func(c *store.S3Config) { c.CAFile = "ca.pem" }, "TLS is off"},
		{"bad bucket", func(c *store.S3Config) { c.Bucket = "Media_Files" }, "bucket"},
		{"no access key", func(c *store.S3Config) { c.AccessKey = "" }, "AccessKey"},
		{"no secret", func(c *store.S3Config) { c.SecretKey = "" }, "SecretKey"},
		{"negative timeout", func(c *store.S3Config) { c.Timeout = -time.Second }, "Timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			if tc.bad == "" && err != nil || tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.bad)
			}
		})
	}
}

// TestS3StartupErrors checks that every way the first request can fail comes back fast, as one line naming the
// endpoint and the problem.
func TestS3StartupErrors(t *testing.T) {
	tlsFiles := testenv.NewTLSFiles(t)
	plain := testenv.StartS3(t, testenv.S3Options{})
	secure := testenv.StartS3(t, testenv.S3Options{TLS: &tlsFiles})
	dir := t.TempDir()
	keyFile, secretFile := filepath.Join(dir, "access"), filepath.Join(dir, "secret")
	if err := os.WriteFile(keyFile, []byte(" "+plain.AccessKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretFile, []byte(plain.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	silent := silentServer(t)
	closedPort := closedPort(t)

	cfg := func(s *testenv.S3Server) store.S3Config {
		return store.S3Config{Endpoint: s.Endpoint, Bucket: "startup", AccessKey: s.AccessKey, SecretKey: s.Secret, CreateBucket: true}
	}
	cases := []struct {
		name    string
		cfg     store.S3Config
		is      error  // errors.Is target, or nil
		contain string // substring of the message; "" means NewS3 must succeed
	}{
		{"ok", cfg(plain), nil, ""},
		{"key files", with(cfg(plain), func(c *store.S3Config) {
			c.AccessKey, c.SecretKey, c.AccessKeyFile, c.SecretKeyFile = "", "", keyFile, secretFile
		}), nil, ""},
		{"existing bucket without CreateBucket", with(cfg(plain), func(c *store.S3Config) { c.CreateBucket = false }), nil, ""},
		{"missing bucket", with(cfg(plain), func(c *store.S3Config) { c.Bucket = "absent"; c.CreateBucket = false }), nil, `bucket "absent" does not exist`},
		{"wrong secret", with(cfg(plain), func(c *store.S3Config) { c.SecretKey = "wrong" }), store.ErrAccessDenied, "check the access key and secret key"},
		{"wrong access key", with(cfg(plain), func(c *store.S3Config) { c.AccessKey = "NOBODY" }), store.ErrAccessDenied, "check the access key and secret key"},
		{"missing key file", with(cfg(plain), func(c *store.S3Config) { c.SecretKey, c.SecretKeyFile = "", filepath.Join(dir, "nope") }), os.ErrNotExist, "secret key"},
		{"https to http server", with(cfg(plain), func(c *store.S3Config) { c.TLS = true }), nil, "TLS handshake failed"},
		{"http to https server", cfg(secure), nil, "TLS handshake failed"},
		{"tls with CA", with(cfg(secure), func(c *store.S3Config) { c.TLS = true; c.CAFile = tlsFiles.CA }), nil, ""},
		{"https url with CA", with(cfg(secure), func(c *store.S3Config) { c.Endpoint = "https://" + secure.Endpoint; c.CAFile = tlsFiles.CA }), nil, ""},
		{"tls untrusted CA", with(cfg(secure), func(c *store.S3Config) { c.TLS = true; c.CAFile = testenv.NewOtherCA(t) }), nil, "TLS handshake failed"},
		{"tls system roots only", with(cfg(secure), func(c *store.S3Config) { c.TLS = true }), nil, "TLS handshake failed"},
		{"refused", with(cfg(plain), func(c *store.S3Config) { c.Endpoint = closedPort }), store.ErrUnreachable, "refused"},
		{"no answer", with(cfg(plain), func(c *store.S3Config) { c.Endpoint = silent; c.Timeout = 500 * time.Millisecond }), store.ErrUnreachable, "no answer within 500ms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			b, err := store.NewS3(context.Background(), tc.cfg)
			took := time.Since(start)
			if took > 3*time.Second {
				t.Errorf("NewS3 took %v", took)
			}
			if tc.contain == "" {
				if err != nil {
					t.Fatalf("NewS3: %v", err)
				}
				// The store works, not just the check.
				if err := b.Put(context.Background(), "k", strings.NewReader("v"), 1); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("NewS3 succeeded")
			}
			msg := err.Error()
			t.Logf("%v: %s", took.Round(time.Millisecond), msg)
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			if !strings.Contains(msg, tc.cfg.Endpoint) {
				t.Errorf("error %q does not name endpoint %s", msg, tc.cfg.Endpoint)
			}
			if !strings.Contains(msg, tc.contain) {
				t.Errorf("error %q does not say %q", msg, tc.contain)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", msg, tc.is)
			}
			for _, sentinel := range []error{store.ErrAccessDenied, store.ErrUnreachable} {
				if sentinel != tc.is && errors.Is(err, sentinel) {
					t.Errorf("error %q wrongly wraps %v", msg, sentinel)
				}
			}
		})
	}
}

func with(c store.S3Config, edit func(*store.S3Config)) store.S3Config {
	edit(&c)
	return c
}

// silentServer accepts connections and never answers, like a host behind a black-holing firewall rule.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return l.Addr().String()
}

// closedPort is an address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestS3Outage stops a real versitygw: every operation fails as a worker's own trouble (fault.ErrStorage, through
// ErrUnreachable), never as a missing blob; after a restart on the same port the same store works again.
func TestS3Outage(t *testing.T) {
	srv := testenv.StartS3(t, testenv.S3Options{})
	b := newS3(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.Put(ctx, "a", strings.NewReader("abc"), 3); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("xyz"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	for _, op := range []struct {
		name string
		do   func() error
	}{
		{"GetFile", func() error { return b.GetFile(ctx, "a", filepath.Join(dir, "got")) }},
		{"Get", func() error { return b.Get(ctx, "a", io.Discard) }},
		{"PutFile", func() error { return b.PutFile(ctx, "b", src) }},
		{"Stat", func() error { _, err := b.Stat(ctx, "a"); return err }},
		{"List", func() error { _, err := b.List(ctx, ""); return err }},
		{"Delete", func() error { return b.Delete(ctx, "a") }},
	} {
		t.Run(op.name, func(t *testing.T) {
			err := op.do()
			if !errors.Is(err, store.ErrUnreachable) || fault.Of(err) != fault.ErrStorage || errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s during an outage: %v (class %v)", op.name, err, fault.Of(err))
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "got")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed GetFile left a file: %v", err)
	}
	srv.Restart(t)
	if err := b.GetFile(ctx, "a", filepath.Join(dir, "got")); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
}
