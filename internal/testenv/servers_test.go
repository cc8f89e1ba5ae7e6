package testenv_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/facefleet/facefleet/internal/testenv"
)

func TestStartNATS(t *testing.T) {
	tlsFiles := testenv.NewTLSFiles(t)
	cases := []struct {
		name string
		opt  testenv.NATSOptions
		conn []nats.Option
	}{
		{"plain", testenv.NATSOptions{}, nil},
		{"user", testenv.NATSOptions{User: "u", Password: "p"}, []nats.Option{nats.UserInfo("u", "p")}},
		{"token+tls", testenv.NATSOptions{Token: "tok", TLS: &tlsFiles}, []nats.Option{nats.Token("tok"), nats.RootCAs(tlsFiles.CA)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := testenv.StartNATS(t, tc.opt)
			nc, err := nats.Connect(s.URL, append(tc.conn, nats.Timeout(5*time.Second))...)
			if err != nil {
				t.Fatalf("connect %s: %v", s.URL, err)
			}
			defer nc.Close()
			js, err := nc.JetStream()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := js.AccountInfo(); err != nil {
				t.Fatalf("JetStream not enabled: %v", err)
			}
			if tc.opt.User != "" || tc.opt.Token != "" {
				if nc2, err := nats.Connect(s.URL, nats.RootCAs(tlsFiles.CA), nats.Timeout(5*time.Second)); err == nil {
					nc2.Close()
					t.Fatal("connected without credentials")
				}
			}
			s.Stop()
			s.Stop()
			assertClosed(t, s.Port)
		})
	}
}

func TestStartS3(t *testing.T) {
	tlsFiles := testenv.NewTLSFiles(t)
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(tlsFiles.CA)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("CA: %v", err)
	}
	cases := []struct {
		name   string
		opt    testenv.S3Options
		scheme string
	}{
		{"plain", testenv.S3Options{}, "http"},
		{"tls", testenv.S3Options{AccessKey: "KEY", Secret: "SECRET", TLS: &tlsFiles}, "https"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := testenv.StartS3(t, tc.opt)
			if s.AccessKey == "" || s.Secret == "" || s.Dir == "" {
				t.Fatalf("server = %+v", s)
			}
			c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			// An unsigned request must reach the S3 API and be refused by it.
			resp, err := c.Get(tc.scheme + "://" + s.Endpoint + "/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "<Error>") {
				t.Fatalf("unsigned GET = %s %q, want 403 with an S3 error", resp.Status, body)
			}
			port := s.Endpoint[strings.LastIndexByte(s.Endpoint, ':')+1:]
			s.Stop()
			assertClosedAddr(t, "127.0.0.1:"+port)
		})
	}
}

func TestOtherCADoesNotVerify(t *testing.T) {
	f := testenv.NewTLSFiles(t)
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ca   string
		want bool
	}{{f.CA, true}, {testenv.NewOtherCA(t), false}} {
		pool := x509.NewCertPool()
		pem, _ := os.ReadFile(tc.ca)
		if !pool.AppendCertsFromPEM(pem) {
			t.Fatalf("%s holds no certificate", tc.ca)
		}
		for _, host := range []string{"127.0.0.1", "localhost"} {
			_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: host})
			if (err == nil) != tc.want {
				t.Errorf("verify %s with %s: %v, want ok=%v", host, tc.ca, err, tc.want)
			}
		}
	}
}

func assertClosed(t *testing.T, port int) {
	t.Helper()
	assertClosedAddr(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
}

func assertClosedAddr(t *testing.T, addr string) {
	t.Helper()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Stop", addr)
	}
}
