package store_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/facefleet/facefleet/internal/testenv"
)

// BenchmarkS3PutOptions is the CPU one upload of a file costs the client and versitygw, by how it is sent: in
// 16 MiB parts or in one request, with or without the payload's sha256 (signed per 64 KiB chunk over plain
// HTTP). It is why no upload hashes its payload (one request instead of parts saved nothing measurable).
// FACEFLEET_PUT_MB sets the file's size (default 19: a 30 s piece of a 1080p target).
func BenchmarkS3PutOptions(b *testing.B) {
	mb := envMiB(b, "FACEFLEET_PUT_MB", 19)
	srv := testenv.StartS3(b, testenv.S3Options{})
	bucket := newS3(b, srv).Bucket()
	raw, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.Secret, "")})
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "piece")
	if err := os.WriteFile(path, randomBytes(mb<<20, 5), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, v := range []struct {
		name string
		opt  minio.PutObjectOptions
	}{
		{"parts-signed", minio.PutObjectOptions{PartSize: 16 << 20}},
		{"parts-unsigned", minio.PutObjectOptions{PartSize: 16 << 20, DisableContentSha256: true}},
		{"one-signed", minio.PutObjectOptions{DisableMultipart: true}},
		{"one-unsigned", minio.PutObjectOptions{DisableMultipart: true, DisableContentSha256: true}},
	} {
		b.Run(v.name, func(b *testing.B) {
			server, client := processCPU(b, srv.PID()), selfCPU()
			for i := 0; b.Loop(); i++ {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				st, _ := f.Stat()
				_, err = raw.PutObject(b.Context(), bucket, fmt.Sprintf("k/%s/%d", v.name, i), f, st.Size(), v.opt)
				f.Close()
				if err != nil {
					b.Fatal(err)
				}
			}
			n := float64(b.N)
			b.ReportMetric((processCPU(b, srv.PID())-server).Seconds()*1000/n, "server-cpu-ms/op")
			b.ReportMetric((selfCPU()-client).Seconds()*1000/n, "client-cpu-ms/op")
		})
	}
}

// processCPU is the user + system time of process pid so far.
func processCPU(tb testing.TB, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:])) // fields from the 3rd (state) on
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * time.Second / 100 // clock ticks (USER_HZ 100)
}

// selfCPU is this process's user + system time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
