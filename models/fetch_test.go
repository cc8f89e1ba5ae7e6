package models

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// modelServer serves one model file over a real HTTP server on 127.0.0.1 and records what it was asked and sent.
type modelServer struct {
	*httptest.Server
	body []byte

	mu     sync.Mutex
	mode   string   // "" (http.ServeContent: Range support), "ignore-range", "die" (once), "stall" (once)
	ranges []string // the Range header of each request
	sent   int64    // body bytes written
}

func newModelServer(t *testing.T, body []byte, mode string) *modelServer {
	s := &modelServer{body: body, mode: mode}
	s.Server = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

func (s *modelServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	mode := s.mode
	if mode == "die" || mode == "stall" {
		s.mode = "" // fail once, then serve properly
	}
	s.mu.Unlock()
	half := len(s.body) / 2
	switch mode {
	case "ignore-range":
		w.Header().Set("Content-Length", fmt.Sprint(len(s.body)))
		s.write(w, s.body)
	case "die": // announce the whole body, send half, drop the connection
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(s.body))
		buf.Write(s.body[:half])
		buf.Flush()
		s.count(half)
		conn.Close()
	case "stall": // send half, then nothing until the client goes away
		w.Header().Set("Content-Length", fmt.Sprint(len(s.body)))
		s.write(w, s.body[:half])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	default:
		http.ServeContent(countingWriter{w, s}, r, "m.onnx", time.Time{}, bytes.NewReader(s.body))
	}
}

func (s *modelServer) write(w http.ResponseWriter, b []byte) {
	n, _ := w.Write(b)
	s.count(n)
}

func (s *modelServer) count(n int) {
	s.mu.Lock()
	s.sent += int64(n)
	s.mu.Unlock()
}

func (s *modelServer) seen() ([]string, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...), s.sent
}

type countingWriter struct {
	http.ResponseWriter
	s *modelServer
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.s.count(n)
	return n, err
}

func testBody(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func entryFor(url string, body []byte) Entry {
	return Entry{Name: "m", File: "m.onnx", Kind: Detector, Distribution: DistOptional, SHA256: sum(body),
		Bytes: int64(len(body)), License: "MIT", URL: url + "/m.onnx"}
}

func assertModel(t *testing.T, dir string, body []byte) {
	t.Helper()
	got, err := os.ReadFile(dir + "/m.onnx")
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("model file: %d bytes, %v", len(got), err)
	}
	if _, err := os.Stat(dir + "/m.onnx.part"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf(".part left behind: %v", err)
	}
}

func TestFetchFull(t *testing.T) {
	body := testBody(256 << 10)
	srv := newModelServer(t, body, "")
	dir := t.TempDir()
	var progress strings.Builder
	if err := Fetch(t.Context(), FetchConfig{Dir: dir, Client: srv.Client(), Progress: &progress}, entryFor(srv.URL, body)); err != nil {
		t.Fatal(err)
	}
	assertModel(t, dir, body)
	ranges, sent := srv.seen()
	if len(ranges) != 1 || ranges[0] != "" || sent != int64(len(body)) {
		t.Fatalf("ranges %q, sent %d", ranges, sent)
	}
	if progress.String() != "m: 256.0 KiB / 256.0 KiB (100%)\n" {
		t.Fatalf("progress (not a terminal, a small file: the final line only):\n%s", progress.String())
	}
	// Present and verified: no request at all.
	if err := Fetch(t.Context(), FetchConfig{Dir: dir, Client: srv.Client()}, entryFor(srv.URL, body)); err != nil {
		t.Fatal(err)
	}
	if ranges, _ := srv.seen(); len(ranges) != 1 {
		t.Fatalf("a verified file was fetched again: %q", ranges)
	}
}

func TestFetchResumes(t *testing.T) {
	body := testBody(256 << 10)
	half := len(body) / 2
	srv := newModelServer(t, body, "")
	dir := t.TempDir()
	write(t, dir+"/m.onnx.part", body[:half])
	var progress strings.Builder
	if err := Fetch(t.Context(), FetchConfig{Dir: dir, Client: srv.Client(), Progress: &progress}, entryFor(srv.URL, body)); err != nil {
		t.Fatal(err)
	}
	assertModel(t, dir, body)
	ranges, sent := srv.seen()
	if want := fmt.Sprintf("bytes=%d-", half); len(ranges) != 1 || ranges[0] != want {
		t.Fatalf("ranges %q, want [%q]", ranges, want)
	}
	if sent != int64(len(body)-half) {
		t.Fatalf("server sent %d bytes, want only the rest (%d)", sent, len(body)-half)
	}
	if !strings.HasPrefix(progress.String(), "m: resuming at 128.0 KiB\n") {
		t.Errorf("progress:\n%s", progress.String())
	}
}

func TestFetchServerIgnoresRange(t *testing.T) {
	body := testBody(64 << 10)
	srv := newModelServer(t, body, "ignore-range")
	dir := t.TempDir()
	write(t, dir+"/m.onnx.part", bytes.Repeat([]byte{'x'}, len(body)/2)) // even a wrong prefix is discarded
	if err := Fetch(t.Context(), FetchConfig{Dir: dir, Client: srv.Client()}, entryFor(srv.URL, body)); err != nil {
		t.Fatal(err)
	}
	assertModel(t, dir, body)
	if ranges, sent := srv.seen(); len(ranges) != 1 || ranges[0] == "" || sent != int64(len(body)) {
		t.Fatalf("ranges %q, sent %d", ranges, sent)
	}
}

func TestFetchRefusesWrongBody(t *testing.T) {
	body := testBody(64 << 10)
	for name, served := range map[string][]byte{
		"same size":  testBody(64<<10 + 1)[1:],
		"too long":   append(append([]byte(nil), body...), 1, 2, 3),
		"too short":  body[:1000],
		"empty body": {},
	} {
		t.Run(name, func(t *testing.T) {
			srv := newModelServer(t, served, "")
			dir := t.TempDir()
			err := Fetch(t.Context(), FetchConfig{Dir: dir, Client: srv.Client()}, entryFor(srv.URL, body))
			if !errors.Is(err, ErrMismatch) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want a one-line ErrMismatch", err)
			}
			assertEmpty(t, dir)
		})
	}
}

// TestFetchRangeNotSatisfiable: a part longer than the server's file draws a 416; Fetch restarts, and the
// short file the server holds is refused.
func TestFetchRangeNotSatisfiable(t *testing.T) {
	body := testBody(64 << 10)
	srv := newModelServer(t, body[:len(body)/2], "")
	dir := t.TempDir()
	write(t, dir+"/m.onnx.part", body[:3*len(body)/4])
	err := Fetch(t.Context(), FetchConfig{Dir: dir, Client: srv.Client()}, entryFor(srv.URL, body))
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("err = %v, want ErrMismatch", err)
	}
	assertEmpty(t, dir)
	if ranges, _ := srv.seen(); len(ranges) != 2 || ranges[0] != fmt.Sprintf("bytes=%d-", 3*len(body)/4) || ranges[1] != "" {
		t.Fatalf("ranges %q", ranges)
	}
}

func TestFetchServerDiesThenResumes(t *testing.T) {
	body := testBody(256 << 10)
	half := len(body) / 2
	srv := newModelServer(t, body, "die")
	dir := t.TempDir()
	e := entryFor(srv.URL, body)
	err := Fetch(t.Context(), FetchConfig{Dir: dir, Client: srv.Client()}, e)
	if err == nil || !strings.Contains(err.Error(), "fetch again to resume") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("first fetch: %v", err)
	}
	if st, err := os.Stat(dir + "/m.onnx.part"); err != nil || st.Size() != int64(half) {
		t.Fatalf(".part after the cut: %v, %v", st, err)
	}
	if _, err := os.Stat(dir + "/m.onnx"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("final name exists after a cut download: %v", err)
	}
	if err := Fetch(t.Context(), FetchConfig{Dir: dir, Client: srv.Client()}, e); err != nil {
		t.Fatal(err)
	}
	assertModel(t, dir, body)
	ranges, sent := srv.seen()
	if len(ranges) != 2 || ranges[1] != fmt.Sprintf("bytes=%d-", half) || sent != int64(len(body)) {
		t.Fatalf("ranges %q, sent %d (want the second request to carry only the rest)", ranges, sent)
	}
}

func TestFetchTimesOutThroughContext(t *testing.T) {
	body := testBody(256 << 10)
	srv := newModelServer(t, body, "stall")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := Fetch(ctx, FetchConfig{Dir: dir, Client: srv.Client()}, entryFor(srv.URL, body))
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("err = %v after %v, want DeadlineExceeded promptly", err, time.Since(start))
	}
	if st, err := os.Stat(dir + "/m.onnx.part"); err != nil || st.Size() != int64(len(body)/2) {
		t.Fatalf(".part after the timeout: %v, %v", st, err)
	}
	if err := Fetch(t.Context(), FetchConfig{Dir: dir, Client: srv.Client()}, entryFor(srv.URL, body)); err != nil {
		t.Fatal(err)
	}
	assertModel(t, dir, body)
}

func TestFetchHTTPError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	dir := t.TempDir()
	err := Fetch(t.Context(), FetchConfig{Dir: dir, Client: srv.Client()}, entryFor(srv.URL, []byte("x")))
	if err == nil || !strings.Contains(err.Error(), "404 Not Found") || !strings.Contains(err.Error(), srv.URL) {
		t.Fatalf("err = %v", err)
	}
	assertEmpty(t, dir)
}

func TestFetchUserModelWithoutURL(t *testing.T) {
	dir := t.TempDir()
	e, err := Lookup("inswapper_128")
	if err != nil {
		t.Fatal(err)
	}
	err = Fetch(t.Context(), FetchConfig{Dir: dir}, e)
	if !errors.Is(err, ErrNoURL) {
		t.Fatalf("err = %v, want ErrNoURL", err)
	}
	msg := err.Error()
	for _, want := range []string{"inswapper_128.onnx", "user-supplied", "copy your own into " + dir, "--models-dir", "--mirror DIR"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("not one line: %q", msg)
	}
	assertEmpty(t, dir)
	// An optional model with no URL (BlazeFace comes in an npm tarball) points at --mirror too.
	bf, _ := Lookup("blazeface_front")
	if err := Fetch(t.Context(), FetchConfig{Dir: dir}, bf); !errors.Is(err, ErrNoURL) || !strings.Contains(err.Error(), "--mirror DIR") {
		t.Fatalf("blazeface: %v", err)
	}
}

func TestProgressLines(t *testing.T) {
	var b strings.Builder
	p := newProgress(&b, "m", 0, 10<<20)
	for range 10 << 4 {
		p.Write(make([]byte, 64<<10))
	}
	p.finish()
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 10 || lines[0] != "m: 1.0 MiB / 10.0 MiB (10%)" || lines[9] != "m: 10.0 MiB / 10.0 MiB (100%)" {
		t.Fatalf("not a terminal, a large file: a line per 10%%:\n%s", b.String())
	}
}

func TestProgressTerminal(t *testing.T) {
	var b strings.Builder
	p := &progress{w: &b, tty: true, name: "m", total: 1000, lastDecile: -1}
	p.Write(make([]byte, 500))
	p.Write(make([]byte, 500)) // within 100ms of the last line: not printed
	p.finish()
	p.finish()
	if got := b.String(); got != "\rm: 500 B / 1000 B (50%)\rm: 1000 B / 1000 B (100%)\n" {
		t.Fatalf("terminal progress %q", got)
	}
	if size(3<<30) != "3.00 GiB" || size(1536) != "1.5 KiB" {
		t.Error("size formatting")
	}
}

func TestContentRange(t *testing.T) {
	for h, want := range map[string][3]int64{
		"bytes 10-99/100": {10, 100, 1},
		"bytes 0-9/*":     {0, -1, 1},
		"bytes */100":     {-1, 100, 1},
		"bytes x-9/100":   {0, 0, 0},
		"items 0-9/100":   {0, 0, 0},
		"bytes 0-9":       {0, 0, 0},
	} {
		start, total, ok := contentRange(h)
		okn := int64(0)
		if ok {
			okn = 1
		}
		if got := [3]int64{start, total, okn}; got != want {
			t.Errorf("%q: %v, want %v", h, got, want)
		}
	}
}
