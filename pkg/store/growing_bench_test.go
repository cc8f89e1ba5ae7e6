package store_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
	"github.com/facefleet/facefleet/pkg/store"
)

// BenchmarkGrowingFileTail is the end of a progressive upload (the coordinator's job tail, issue 16) against
// versitygw: a file written in 20 pieces, its parts going up as it grows, timed from the last piece written and
// the head patched to the upload complete and the file hashed, as the coordinator hashes its output. The parts of
// the pieces before the last are put before the clock starts, as a job's results arrive seconds apart. "beside":
// Finish beside the hash; "dropped": Flush beside the hash, then the file removed, then Complete: versitygw's
// completion writes the whole blob again, here into the pages the file freed, which on machine A cost a tenth of
// pages not written for seconds (the coordinator frees its target's download so). FACEFLEET_GROWING_MB sets the
// file's size (default 256).
func BenchmarkGrowingFileTail(b *testing.B) {
	mb := envMiB(b, "FACEFLEET_GROWING_MB", 256)
	const pieces = 20
	size := mb << 20
	data := randomBytes(size, 3)
	srv := testenv.StartS3(b, testenv.S3Options{})
	blob := newS3(b, srv)
	ctx := b.Context()
	dir := b.TempDir()
	for _, dropped := range []bool{false, true} {
		name := map[bool]string{false: "beside", true: "dropped"}[dropped]
		b.Run(name, func(b *testing.B) {
			var stats store.FinishStats
			var hashed time.Duration
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				path := filepath.Join(dir, fmt.Sprintf("out-%s-%d.mp4", name, i))
				w, err := os.Create(path)
				if err != nil {
					b.Fatal(err)
				}
				r, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				key := fmt.Sprintf("jobs/bench-%s-%d/output.mp4", name, i)
				g, err := store.NewGrowingFile(ctx, blob, key, r, store.PartSize)
				if err != nil {
					b.Fatal(err)
				}
				write := func(from, to int) {
					if _, err := w.Write(data[from:to]); err != nil {
						b.Fatal(err)
					}
					g.Grew(int64(to))
				}
				step := size / pieces
				for p := 0; p < pieces-1; p++ {
					write(p*step, (p+1)*step)
				}
				time.Sleep(time.Duration(mb/16+1) * 200 * time.Millisecond) // the parts before the last piece go up
				b.StartTimer()
				write((pieces-1)*step, size)
				if _, err := w.WriteAt(data[:64], 0); err != nil { // the muxer's patch
					b.Fatal(err)
				}
				sums := make(chan []byte, 1)
				t0 := time.Now()
				go func() {
					h := sha256.New()
					f, _ := os.Open(path)
					_, _ = io.Copy(h, f)
					f.Close()
					hashed += time.Since(t0)
					sums <- h.Sum(nil)
				}()
				if dropped {
					err = g.Flush(ctx, int64(size))
					<-sums
					w.Close()
					r.Close()
					_ = os.Remove(path)
					if err == nil {
						err = g.Complete(ctx)
					}
				} else {
					err = g.Finish(ctx, int64(size))
					<-sums
				}
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				st := g.Stats()
				stats.Head += st.Head
				stats.Last += st.Last
				stats.Wait += st.Wait
				stats.Complete += st.Complete
				stats.LastBytes += st.LastBytes
				stats.InFlightBytes += st.InFlightBytes
				w.Close()
				r.Close()
				_ = os.Remove(path)
				if err := blob.Delete(ctx, key); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			n := float64(b.N)
			ms := func(d time.Duration) float64 { return d.Seconds() * 1000 / n }
			b.ReportMetric(ms(stats.Head), "head-ms")
			b.ReportMetric(ms(stats.Last), "last-ms")
			b.ReportMetric(ms(stats.Wait), "wait-ms")
			b.ReportMetric(ms(stats.Complete), "complete-ms")
			b.ReportMetric(ms(hashed), "hash-ms")
			b.ReportMetric(float64(stats.LastBytes+stats.InFlightBytes)/n/(1<<20), "MiB-after-last")
		})
	}
}

// envMiB is the number of MiB the environment variable name sets, def when unset.
func envMiB(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	mb, err := strconv.Atoi(v)
	if err != nil || mb < 1 {
		b.Fatalf("%s: %q", name, v)
	}
	return mb
}
