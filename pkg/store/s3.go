package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/facefleet/facefleet/pkg/fault"
)

// ErrAccessDenied is returned (wrapped) when the S3 server refuses the credentials or their permissions.
var ErrAccessDenied = errors.New("access denied")

// ErrUnreachable is returned (wrapped) when the S3 server cannot be reached or cannot serve now: refused or dropped
// connections, no answer in time, an unknown host, a 5xx answer. It is a worker's own trouble, not a segment's
// (fault.ErrStorage): retried, never counted as the segment's failure.
var ErrUnreachable = fault.New("unreachable", fault.ErrStorage)

// S3Config configures an S3 store.
type S3Config struct {
	// Endpoint is host:port, http://host:port or https://host:port.
	Endpoint string
	Bucket   string
	// Region is the bucket's region; empty asks the server (one extra request per bucket, cached).
	Region string
	// AccessKey and SecretKey are the credentials; when empty they are read from AccessKeyFile and SecretKeyFile
	// (surrounding white space trimmed), so secrets can stay out of the command line and environment.
	AccessKey, SecretKey         string
	AccessKeyFile, SecretKeyFile string
	// TLS selects https; an https:// endpoint implies it.
	TLS bool
	// CAFile is a PEM file of root certificates trusted in addition to the system's.
	CAFile string
	// CreateBucket creates a missing bucket at start-up instead of failing.
	CreateBucket bool
	// Timeout bounds the start-up check; 0 means 5s.
	Timeout time.Duration
}

// DefaultS3Timeout bounds NewS3's check when S3Config.Timeout is 0.
const DefaultS3Timeout = 5 * time.Second

// Validate reports a configuration NewS3 cannot use, without touching files or the network.
func (c S3Config) Validate() error {
	if _, _, err := c.hostAndScheme(); err != nil {
		return err
	}
	if err := s3utils.CheckValidBucketNameStrict(c.Bucket); err != nil {
		return fmt.Errorf("store: s3: bucket %q: %w", c.Bucket, err)
	}
	if c.AccessKey == "" && c.AccessKeyFile == "" {
		return errors.New("store: s3: AccessKey or AccessKeyFile is required")
	}
	if c.SecretKey == "" && c.SecretKeyFile == "" {
		return errors.New("store: s3: SecretKey or SecretKeyFile is required")
	}
	if c.Timeout < 0 {
		return fmt.Errorf("store: s3: negative Timeout %v", c.Timeout)
	}
	return nil
}

// hostAndScheme splits Endpoint into host:port and whether to use https.
func (c S3Config) hostAndScheme() (host string, secure bool, err error) {
	ep := strings.TrimSuffix(strings.TrimSpace(c.Endpoint), "/")
	if ep == "" {
		return "", false, errors.New("store: s3: Endpoint is required")
	}
	secure = c.TLS
	if strings.Contains(ep, "://") {
		u, err := url.Parse(ep)
		if err != nil {
			return "", false, fmt.Errorf("store: s3: Endpoint: %w", err)
		}
		switch u.Scheme {
		case "https":
			secure = true
		case "http":
			if c.TLS {
				return "", false, fmt.Errorf("store: s3: Endpoint %s is http:// but TLS is set", ep)
			}
		default:
			return "", false, fmt.Errorf("store: s3: Endpoint %s: scheme must be http or https", ep)
		}
		if u.Path != "" || u.RawQuery != "" || u.User != nil {
			return "", false, fmt.Errorf("store: s3: Endpoint %s: want scheme://host:port with nothing else", ep)
		}
		ep = u.Host
	}
	if ep == "" || strings.ContainsAny(ep, "/?#@ ") {
		return "", false, fmt.Errorf("store: s3: Endpoint %q: want host:port", c.Endpoint)
	}
	if c.CAFile != "" && !secure {
		return "", false, errors.New("store: s3: CAFile is set but TLS is off")
	}
	return ep, secure, nil
}

// S3 is a Blob kept in one S3 bucket, under the keys themselves (no prefix).
//
// Put of a known size streams (multipart from 16 MiB on, parts buffered in memory); Put of an unknown size always
// uses a multipart upload with 16 MiB parts, and PutFile uploads parts in parallel from the file. A failed upload is
// aborted, so readers never see it. Against a gateway that maps keys to files (versitygw posix), "a" and "a/b"
// cannot both exist, a key element over 255 bytes fails, and keys under ".sgwtmp/" are stored but never listed;
// S3 itself has none of these limits.
type S3 struct {
	client   *minio.Client
	bucket   string
	endpoint string // as configured, for messages
}

var _ Blob = (*S3)(nil)

// PartSize is the multipart part size of Put and PutFile, and the one a GrowingFile is given: minio's minimum-size
// default, stated so that an unknown-size Put does not size its buffer for a 5 TiB object (~550 MB per part).
const PartSize = 16 << 20

// putOptions are the options of every upload. No payload hash is sent: over TLS minio sends none, and over plain
// HTTP it signed each 64 KiB chunk's sha256, which the server checked: a sha256 of every byte on both sides, a
// quarter of an upload's CPU with versitygw (BenchmarkS3PutOptions), while what the store sends back is signed by
// nobody. Plain HTTP keeps a body whole neither way, TLS both ways.
func putOptions() minio.PutObjectOptions {
	return minio.PutObjectOptions{PartSize: PartSize, DisableContentSha256: true}
}

// NewS3 connects to cfg.Endpoint and checks, within cfg.Timeout, that the bucket is there (creating it when
// cfg.CreateBucket is set). Every failure is one line that names the endpoint and the problem; bad credentials
// wrap ErrAccessDenied and network failures ErrUnreachable.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	host, secure, _ := cfg.hostAndScheme()
	ep := strings.TrimSuffix(strings.TrimSpace(cfg.Endpoint), "/")
	access, err := keyValue(cfg.AccessKey, cfg.AccessKeyFile)
	if err != nil {
		return nil, fmt.Errorf("store: s3 %s: access key: %w", ep, err)
	}
	secret, err := keyValue(cfg.SecretKey, cfg.SecretKeyFile)
	if err != nil {
		return nil, fmt.Errorf("store: s3 %s: secret key: %w", ep, err)
	}
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("store: s3 %s: %w", ep, err)
	}
	if cfg.CAFile != "" {
		pool, err := caPool(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("store: s3 %s: CAFile: %w", ep, err)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	newClient := func(retries int) (*minio.Client, error) {
		return minio.New(host, &minio.Options{
			Creds:      credentials.NewStaticV4(access, secret, ""),
			Secure:     secure,
			Transport:  tr,
			Region:     cfg.Region,
			MaxRetries: retries,
		})
	}
	// The check must not retry: a wrong port or protocol would otherwise burn the whole timeout in backoff and
	// report only "deadline exceeded".
	check, err := newClient(1)
	if err != nil {
		return nil, fmt.Errorf("store: s3 %s: %s", ep, oneLine(err.Error()))
	}
	client, err := newClient(0) // 0: minio's default retries
	if err != nil {
		return nil, fmt.Errorf("store: s3 %s: %s", ep, oneLine(err.Error()))
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultS3Timeout
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := ensureBucket(cctx, check, cfg.Bucket, cfg.Region, cfg.CreateBucket); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("store: s3 %s: %w", ep, ctx.Err())
		}
		if cctx.Err() != nil {
			return nil, fmt.Errorf("store: s3 %s: %w: no answer within %v", ep, ErrUnreachable, timeout)
		}
		return nil, fmt.Errorf("store: s3 %s: %w", ep, startupError(ctx, err, host, secure))
	}
	return &S3{client: client, bucket: cfg.Bucket, endpoint: ep}, nil
}

// Bucket returns the bucket name.
func (s *S3) Bucket() string { return s.bucket }

func ensureBucket(ctx context.Context, c *minio.Client, bucket, region string, create bool) error {
	ok, err := c.BucketExists(ctx, bucket)
	if err != nil || ok {
		return err
	}
	if !create {
		return fmt.Errorf("bucket %q does not exist (create it, or set CreateBucket)", bucket)
	}
	err = c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: region})
	if code := minio.ToErrorResponse(err).Code; code == "BucketAlreadyOwnedByYou" {
		return nil // created concurrently by another process
	}
	if err != nil {
		return fmt.Errorf("create bucket %q: %w", bucket, err)
	}
	return nil
}

// startupError names the usual ways a first request fails, so an operator can fix the configuration from one line.
func startupError(ctx context.Context, err error, host string, secure bool) error {
	var er minio.ErrorResponse
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	msg := oneLine(describe(err))
	switch {
	case errors.As(err, &er) && accessDenied(er):
		return fmt.Errorf("%w: check the access key and secret key (%s)", ErrAccessDenied, msg)
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return errors.New("TLS handshake failed: the server speaks plain http (use an http:// endpoint and turn TLS off)")
	case errors.As(err, &certErr), errors.As(err, &recErr), strings.Contains(msg, "tls: "), strings.Contains(msg, "x509: "):
		return fmt.Errorf("TLS handshake failed: %s", msg)
	case !secure && !errors.As(err, &er) && !errors.Is(err, syscall.ECONNREFUSED) && speaksTLS(ctx, host):
		// A TLS server hangs up on plain http in ways minio reports as "connection closed"; ask it directly.
		return errors.New("TLS handshake failed: the server expects https (use an https:// endpoint or set TLS)")
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH), errors.As(err, &dnsErr):
		return fmt.Errorf("%w: %s", ErrUnreachable, msg)
	}
	return errors.New(msg)
}

// speaksTLS reports whether host completes a TLS handshake. It only explains a failed plain-http check, so the
// certificate is not verified: nothing is sent over the connection.
func speaksTLS(ctx context.Context, host string) bool {
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, "80")
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}}
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func accessDenied(er minio.ErrorResponse) bool {
	switch er.Code {
	// XAdminUserNotFound is versitygw's answer to an unknown access key (with status 404, not 403).
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "XAdminUserNotFound":
		return true
	}
	return er.StatusCode == 403
}

// describe shows minio's error code along with its message, which alone can be as vague as "Access Denied.".
func describe(err error) string {
	var er minio.ErrorResponse
	if errors.As(err, &er) && er.Code != "" && !strings.HasPrefix(er.Error(), er.Code) {
		return er.Code + ": " + er.Error()
	}
	return err.Error()
}

// oneLine keeps a server's multi-line error body on one log line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func keyValue(value, file string) (string, error) {
	if value != "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s is empty", file)
	}
	return v, nil
}

func caPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// fail turns a minio error into the store's: ErrNotFound, ErrAccessDenied, ErrUnreachable or the context's error,
// each wrapped so that errors.Is works.
func (s *S3) fail(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(err, cerr) {
			return err
		}
		return fmt.Errorf("%w: %s", cerr, oneLine(err.Error()))
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		switch {
		case accessDenied(er):
			return fmt.Errorf("%w: %s", ErrAccessDenied, oneLine(describe(err)))
		case er.Code == "NoSuchKey" || er.StatusCode == 404 && er.Code != "NoSuchBucket" && er.Code != "NoSuchUpload":
			return ErrNotFound
		case er.StatusCode >= 500: // the server is there but cannot serve now (503 SlowDown, 500 InternalError)
			return fmt.Errorf("s3 %s: %w: %s", s.endpoint, ErrUnreachable, oneLine(describe(err)))
		}
		return fmt.Errorf("s3 %s: %s", s.endpoint, oneLine(describe(err)))
	}
	var dnsErr *net.DNSError
	var netErr net.Error
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &dnsErr) ||
		errors.As(err, &netErr) && netErr.Timeout() {
		return fmt.Errorf("s3 %s: %w: %w", s.endpoint, ErrUnreachable, err)
	}
	return err
}

// Put implements Blob.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := s.put(ctx, key, r, size); err != nil {
		return fmt.Errorf("store: put %s: %w", clip(key), err)
	}
	return nil
}

func (s *S3) put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	if size < -1 {
		return fmt.Errorf("negative size %d", size)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	src := io.Reader(ctxReader{ctx, r})
	if size >= 0 {
		er := &exactReader{r: src, size: size, left: size}
		// minio sends an empty body without reading it, so a surplus must be found here.
		if size == 0 {
			if err := er.end(); err != io.EOF {
				return err
			}
		}
		src = er
	}
	_, err := s.client.PutObject(ctx, s.bucket, key, src, size, putOptions())
	if err != nil {
		return s.fail(ctx, err)
	}
	return nil
}

// exactReader passes r through but fails unless r yields exactly size bytes. It looks for a surplus byte before
// handing out the last ones, because minio stops reading at size and would otherwise store a truncated copy.
type exactReader struct {
	r          io.Reader
	size, left int64
	endErr     error // io.EOF once r is known to end at size
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left == 0 {
		return 0, e.end()
	}
	n, err := e.r.Read(p[:min(int64(len(p)), e.left)])
	e.left -= int64(n)
	switch {
	case e.left == 0:
		if err := e.end(); err != io.EOF {
			return 0, err // withhold the last bytes: the upload must not complete
		}
		return n, nil
	case err == io.EOF:
		return n, fmt.Errorf("size mismatch: reader gave %d bytes, expected %d", e.size-e.left, e.size)
	}
	return n, err
}

// end reads one byte past size, once: io.EOF means the reader had exactly size bytes.
func (e *exactReader) end() error {
	if e.endErr == nil {
		var one [1]byte
		n, err := io.ReadFull(e.r, one[:]) // n == 0 comes with an error, io.EOF at a clean end
		if n > 0 {
			err = fmt.Errorf("size mismatch: reader gave more than %d bytes", e.size)
		}
		e.endErr = err
	}
	return e.endErr
}

// PutFile implements Blob. The file goes up in parallel parts when it is large.
func (s *S3) PutFile(ctx context.Context, key, path string) error {
	if err := s.putFile(ctx, key, path); err != nil {
		return fmt.Errorf("store: put %s: %w", clip(key), err)
	}
	return nil
}

func (s *S3) putFile(ctx context.Context, key, path string) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	// The *os.File itself, not a wrapper: minio then reads parts with ReadAt, in parallel, and can retry them.
	if _, err := s.client.PutObject(ctx, s.bucket, key, f, st.Size(), putOptions()); err != nil {
		return s.fail(ctx, err)
	}
	return nil
}

// Get implements Blob.
func (s *S3) Get(ctx context.Context, key string, w io.Writer) error {
	if err := s.get(ctx, key, w); err != nil {
		return fmt.Errorf("store: get %s: %w", clip(key), err)
	}
	return nil
}

func (s *S3) get(ctx context.Context, key string, w io.Writer) error {
	obj, size, err := s.open(ctx, key)
	if err != nil {
		return err
	}
	defer obj.Close()
	n, err := io.Copy(ctxWriter{ctx, w}, obj)
	if err != nil {
		return s.fail(ctx, err)
	}
	if n != size {
		return fmt.Errorf("s3 %s: got %d bytes, object has %d", s.endpoint, n, size)
	}
	return nil
}

// GetFile implements Blob.
func (s *S3) GetFile(ctx context.Context, key, path string) error {
	if err := s.getFile(ctx, key, path); err != nil {
		return fmt.Errorf("store: get %s: %w", clip(key), err)
	}
	return nil
}

func (s *S3) getFile(ctx context.Context, key, path string) error {
	// Open first, so a missing blob leaves no trace at path.
	obj, size, err := s.open(ctx, key)
	if err != nil {
		return err
	}
	defer obj.Close()
	return writeAtomic(path, localCopy, func(f *os.File) error {
		n, err := io.Copy(f, ctxReader{ctx, obj})
		if err != nil {
			return s.fail(ctx, err)
		}
		if n != size {
			return fmt.Errorf("s3 %s: got %d bytes, object has %d", s.endpoint, n, size)
		}
		return nil
	})
}

// open sends the GET, so that a missing key is reported before anything is written. It is one plain GET:
// minio.Object would send a HEAD, then a GET with If-Match, which fails when a concurrent Put lands in between.
func (s *S3) open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if err := ValidKey(key); err != nil {
		return nil, 0, err
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	body, info, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, 0, s.fail(ctx, err)
	}
	return body, info.Size, nil
}

// URL implements URLer: a presigned GET of key, valid for ttl, on the configured endpoint.
func (s *S3) URL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := ValidKey(key); err != nil {
		return "", err
	}
	u, err := s.client.PresignedGetObject(ctx, s.bucket, key, ttl, nil)
	if err != nil {
		return "", s.fail(ctx, err)
	}
	return u.String(), nil
}

// Stat implements Blob.
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if err := ValidKey(key); err != nil {
		return Info{}, fmt.Errorf("store: stat %s: %w", clip(key), err)
	}
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("store: stat %s: %w", clip(key), err)
	}
	st, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return Info{}, fmt.Errorf("store: stat %s: %w", clip(key), s.fail(ctx, err))
	}
	return Info{Key: key, Size: st.Size, ModTime: st.LastModified}, nil
}

// List implements Blob.
func (s *S3) List(ctx context.Context, prefix string) ([]Info, error) {
	out, err := s.list(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("store: list %s: %w", clip(prefix), err)
	}
	return out, nil
}

func (s *S3) list(ctx context.Context, prefix string) ([]Info, error) {
	if err := ValidPrefix(prefix); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Cancelling stops minio's listing goroutine when we return early.
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := []Info{}
	for obj := range s.client.ListObjects(lctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, s.fail(ctx, obj.Err)
		}
		// Directory markers ("a/") that a gateway may report are not blobs.
		if ValidKey(obj.Key) != nil {
			continue
		}
		out = append(out, Info{Key: obj.Key, Size: obj.Size, ModTime: obj.LastModified})
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// S3 lists in byte order already; a gateway walking directories may not.
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete implements Blob.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidKey(key); err != nil {
		return fmt.Errorf("store: delete %s: %w", clip(key), err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: delete %s: %w", clip(key), err)
	}
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		if err := s.fail(ctx, err); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("store: delete %s: %w", clip(key), err)
		}
	}
	return nil
}

// DeletePrefix implements Blob. It lists, then deletes in batches of up to 1000 keys per request.
func (s *S3) DeletePrefix(ctx context.Context, prefix string) error {
	if prefix == "" {
		return fmt.Errorf("store: delete prefix: %w: empty prefix", ErrInvalidKey)
	}
	infos, err := s.List(ctx, prefix)
	if err != nil {
		return err
	}
	if len(infos) == 0 {
		return nil
	}
	objs := make(chan minio.ObjectInfo, len(infos))
	for _, in := range infos {
		objs <- minio.ObjectInfo{Key: in.Key}
	}
	close(objs)
	var errs []error
	for rerr := range s.client.RemoveObjects(ctx, s.bucket, objs, minio.RemoveObjectsOptions{}) {
		if err := s.fail(ctx, rerr.Err); !errors.Is(err, ErrNotFound) {
			errs = append(errs, fmt.Errorf("%s: %w", clip(rerr.ObjectName), err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("store: delete prefix %s: %d blobs not deleted, first %w", clip(prefix), len(errs), errs[0])
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: delete prefix %s: %w", clip(prefix), err)
	}
	return nil
}
