package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/facefleet/facefleet/internal/testenv"
)

// outcome is what a case must give through one path: processed (the zero value) or refused with a line that
// contains want. skip, when set, names the branch that fixes this path's assertion (the case still runs, and still
// must not crash, hang, modify an input or leave a partial output).
type outcome struct {
	refused bool
	want    string
	skip    string
}

func refuse(want string) outcome { return outcome{refused: true, want: want} }

var processed = outcome{}

// corpusFiles are the inputs most cases share, made once.
type corpusFiles struct {
	face, noFace, clip string
}

// corpusCase is one bad (or merely unusual) input. setup writes the case's files into in and returns the source,
// the target and the output; an output of "" is out.mp4 in the case's output directory, a relative one is taken
// in that directory, an absolute one as it is. names says which of them the refusal line must name.
type corpusCase struct {
	name         string
	setup        func(t *testing.T, f corpusFiles, in string) (source, target, output string)
	run, submit  outcome
	names        string // "source", "target", "output" or "output directory"
	relativeArgs bool   // pass the inputs relative to the input directory (the process runs there)
	outIsDir     bool   // -o names the output directory itself: the output is <source>-<target>.<ext> in it
	outExists    bool   // a file is already there under the output's name (a previous run's): it is replaced
}

func badInputCorpus() []corpusCase {
	tgt := func(make func(t *testing.T, f corpusFiles, in string) string) func(*testing.T, corpusFiles, string) (string, string, string) {
		return func(t *testing.T, f corpusFiles, in string) (string, string, string) {
			return f.face, make(t, f, in), ""
		}
	}
	src := func(make func(t *testing.T, f corpusFiles, in string) string) func(*testing.T, corpusFiles, string) (string, string, string) {
		return func(t *testing.T, f corpusFiles, in string) (string, string, string) {
			return make(t, f, in), f.clip, ""
		}
	}
	out := func(make func(t *testing.T, f corpusFiles, in string) string) func(*testing.T, corpusFiles, string) (string, string, string) {
		return func(t *testing.T, f corpusFiles, in string) (string, string, string) {
			return f.face, f.clip, make(t, f, in)
		}
	}
	clipOf := func(name, size string, seconds float64, audio bool, extra ...string) func(*testing.T, corpusFiles, string) (string, string, string) {
		return tgt(func(t *testing.T, _ corpusFiles, in string) string {
			return clip(t, filepath.Join(in, name), size, seconds, audio, extra...)
		})
	}
	return []corpusCase{
		// Files that are not what they claim.
		{name: "zero-byte target", setup: tgt(func(t *testing.T, _ corpusFiles, in string) string { return writeFile(t, in, "empty.mp4", nil) }),
			run: refuse("empty"), submit: refuse("empty"), names: "target"},
		{name: "zero-byte source", setup: src(func(t *testing.T, _ corpusFiles, in string) string { return writeFile(t, in, "empty.png", nil) }),
			run: refuse("empty"), submit: refuse("empty"), names: "source"},
		{name: "missing target", setup: tgt(func(t *testing.T, _ corpusFiles, in string) string { return filepath.Join(in, "nope.mp4") }),
			run: refuse("not found"), submit: refuse("not found"), names: "target"},
		{name: "target is a directory", setup: tgt(func(t *testing.T, _ corpusFiles, in string) string {
			p := filepath.Join(in, "dir.mp4")
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
			return p
		}), run: refuse("directory"), submit: refuse("directory"), names: "target"},
		{name: "target is a fifo", setup: tgt(func(t *testing.T, _ corpusFiles, in string) string {
			p := filepath.Join(in, "pipe.mp4")
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}), run: refuse("not a regular file"), submit: refuse("not a regular file"), names: "target"},
		{name: "target is a character device", setup: tgt(func(t *testing.T, _ corpusFiles, in string) string { return "/dev/zero" }),
			run: refuse("not a regular file"), submit: refuse("not a regular file"), names: "target"},
		{name: "half an mp4", setup: tgt(func(t *testing.T, f corpusFiles, in string) string {
			b, _ := os.ReadFile(f.clip)
			return writeFile(t, in, "half.mp4", b[:len(b)/2])
		}), run: refuse("truncated"), submit: refuse("truncated"), names: "target"},
		{name: "mp4 cut mid-moov", setup: tgt(func(t *testing.T, _ corpusFiles, in string) string {
			whole := clip(t, filepath.Join(in, "whole.mp4"), "160x120", 2, true, "-movflags", "+faststart")
			p := cutInside(t, whole, in, "cut-moov.mp4", "moov")
			return p
		}), run: refuse("truncated"), submit: refuse("truncated"), names: "target"},
		{name: "mp4 cut mid-mdat, moov last", setup: tgt(func(t *testing.T, f corpusFiles, in string) string {
			return cutInside(t, f.clip, in, "cut-mdat.mp4", "mdat")
		}), run: refuse("truncated"), submit: refuse("truncated"), names: "target"},
		{name: "mp4 cut mid-mdat, moov first", setup: tgt(func(t *testing.T, _ corpusFiles, in string) string {
			whole := clip(t, filepath.Join(in, "whole.mp4"), "160x120", 2, true, "-movflags", "+faststart")
			return cutInside(t, whole, in, "cut-mdat-faststart.mp4", "mdat")
		}), run: refuse("truncated"), submit: refuse("truncated"), names: "target"},
		{name: "text named .mp4", setup: tgt(func(t *testing.T, _ corpusFiles, in string) string {
			return writeFile(t, in, "notes.mp4", []byte("this is not a video\n"))
		}), run: refuse("not a media file"), submit: refuse("not a media file"), names: "target"},
		{name: "random bytes after an ftyp", setup: tgt(func(t *testing.T, f corpusFiles, in string) string {
			b, _ := os.ReadFile(f.clip)
			junk := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef, 0x00, 0x13}, 4000)
			return writeFile(t, in, "junk.mp4", append(append([]byte{}, b[:32]...), junk...))
		}), run: refuse("junk.mp4"), submit: refuse("junk.mp4"), names: "target"},
		{name: "png named .mp4", setup: tgt(func(t *testing.T, f corpusFiles, in string) string { return copyAs(t, f.noFace, in, "picture.mp4") }),
			run: refuse("is an image"), submit: refuse("is an image"), names: "target"},
		{name: "mp4 named .png", setup: tgt(func(t *testing.T, f corpusFiles, in string) string { return copyAs(t, f.clip, in, "movie.png") }),
			run: processed, submit: processed},
		{name: "audio only", setup: tgt(func(t *testing.T, _ corpusFiles, in string) string {
			p := filepath.Join(in, "audio.m4a")
			ffmpeg(t, "-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", p)
			return p
		}), run: refuse("no video stream"), submit: refuse("no video stream"), names: "target"},
		{name: "audio only named .mp4", setup: tgt(func(t *testing.T, _ corpusFiles, in string) string {
			p := filepath.Join(in, "sound.mp4")
			ffmpeg(t, "-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", p)
			return p
		}), run: refuse("no video stream"), submit: refuse("no video stream"), names: "target"},

		{name: "mp3 with cover art", setup: tgt(func(t *testing.T, f corpusFiles, in string) string {
			p := filepath.Join(in, "song.mp3") // its only picture is an attached one: no video to swap
			ffmpeg(t, "-f", "lavfi", "-i", "sine=d=1", "-i", f.noFace, "-map", "0", "-map", "1", "-c:a", "libmp3lame",
				"-c:v", "png", "-disposition:v", "attached_pic", p)
			return p
		}), run: refuse("no video stream (streams: audio, cover art)"), submit: refuse("no video stream (streams: audio, cover art)"), names: "target"},

		// Pictures of unusual shapes and formats.
		{name: "1x1 ffv1", setup: tgt(func(t *testing.T, _ corpusFiles, in string) string {
			p := filepath.Join(in, "one-pixel.mkv") // lavfi's sources draw nothing under 2x2: scaled down
			ffmpeg(t, "-f", "lavfi", "-i", "color=c=red:s=16x16:r=25:d=1", "-vf", "scale=1:1", "-c:v", "ffv1", p)
			return p
		}), run: processed, submit: processed},
		{name: "1x1 h264 4:4:4", setup: tgt(func(t *testing.T, _ corpusFiles, in string) string {
			p := filepath.Join(in, "one-pixel.mp4")
			ffmpeg(t, "-f", "lavfi", "-i", "color=c=red:s=16x16:r=25:d=1", "-vf", "scale=1:1", "-c:v", "libx264",
				"-preset", "ultrafast", "-pix_fmt", "yuv444p", p)
			return p
		}), run: processed, submit: processed},
		{name: "2x2 h264", setup: clipOf("tiny.mp4", "2x2", 1, false), run: processed, submit: processed},
		{name: "odd size 641x481", setup: clipOf("odd.mkv", "641x481", 1, false, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p"),
			run: processed, submit: processed},
		{name: "16384x8640 video", setup: tgt(func(t *testing.T, _ corpusFiles, in string) string {
			p := filepath.Join(in, "huge.mp4") // one grey frame: ffmpeg writes it in seconds, ~0.4 MB
			ffmpeg(t, "-f", "lavfi", "-i", "color=c=gray:s=16384x8640:d=0.04", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", p)
			return p
		}), run: refuse("16384x8640"), submit: refuse("16384x8640"), names: "target"},
		{name: "10-bit", setup: clipOf("ten-bit.mp4", "160x120", 1, true, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le"),
			run: processed, submit: processed},
		{name: "4:4:4", setup: clipOf("yuv444.mp4", "160x120", 1, true, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p"),
			run: processed, submit: processed},
		{name: "hevc", setup: clipOf("hevc.mp4", "160x120", 1, true, "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-tag:v", "hvc1"),
			run: processed, submit: processed},
		{name: "rotated 90", setup: clipOf("rot90.mp4", "160x120", 1, true, "-metadata:s:v", "rotate=90"), run: processed, submit: processed},
		{name: "rotated 180", setup: clipOf("rot180.mp4", "160x120", 1, true, "-metadata:s:v", "rotate=180"), run: processed, submit: processed},
		{name: "rotated 270", setup: clipOf("rot270.mp4", "160x120", 1, true, "-metadata:s:v", "rotate=270"), run: processed, submit: processed},
		{name: "variable frame rate", setup: tgt(func(t *testing.T, _ corpusFiles, in string) string {
			p := filepath.Join(in, "vfr.mp4")
			// Every third frame dropped and the rest kept at their times: 1/25 s and 2/25 s gaps.
			ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=s=160x120:r=25:d=2", "-f", "lavfi", "-i", "sine=d=2",
				"-vf", "select='not(eq(mod(n\\,3)\\,2))'", "-vsync", "vfr", "-c:v", "libx264", "-preset", "ultrafast",
				"-pix_fmt", "yuv420p", "-c:a", "aac", p)
			return p
		}), run: processed, submit: processed},
		{name: "open GOP with B-frames", setup: clipOf("open-gop.mp4", "160x120", 2, true, "-c:v", "libx264", "-preset", "veryfast",
			"-pix_fmt", "yuv420p", "-x264-params", "open-gop=1:keyint=12:min-keyint=12:scenecut=0:bframes=3"), run: processed, submit: processed},
		{name: "one keyframe", setup: clipOf("one-key.mp4", "160x120", 2, true, "-g", "1000", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
			run: processed, submit: processed},
		{name: "single frame", setup: clipOf("one-frame.mp4", "160x120", 0.04, false), run: processed, submit: processed},
		{name: "two video and two audio streams", setup: tgt(func(t *testing.T, _ corpusFiles, in string) string {
			p := filepath.Join(in, "multi.mkv")
			ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=s=160x120:r=25:d=1", "-f", "lavfi", "-i", "testsrc=s=96x64:r=25:d=1",
				"-f", "lavfi", "-i", "sine=f=440:d=1", "-f", "lavfi", "-i", "sine=f=880:d=1",
				"-map", "0", "-map", "1", "-map", "2", "-map", "3", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
				"-c:a", "aac", p)
			return p
		}), run: processed, submit: processed},
		{name: "subtitles and data besides the video", setup: tgt(func(t *testing.T, _ corpusFiles, in string) string {
			srt := writeFile(t, in, "subs.srt", []byte("1\n00:00:00,000 --> 00:00:00,900\nhello\n"))
			p := filepath.Join(in, "subtitled.mkv")
			ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=s=160x120:r=25:d=1", "-f", "lavfi", "-i", "sine=d=1", "-i", srt,
				"-map", "0", "-map", "1", "-map", "2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
				"-c:a", "aac", "-c:s", "srt", p)
			return p
		}), run: processed, submit: processed},
		{name: "5.1 pcm audio in mov", setup: tgt(func(t *testing.T, _ corpusFiles, in string) string {
			p := filepath.Join(in, "surround.mov")
			ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=s=160x120:r=25:d=1", "-f", "lavfi", "-i", "sine=d=1",
				"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-af", "pan=5.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0",
				"-c:a", "pcm_s16le", p)
			return p
		}), run: processed, submit: processed},
		{name: "audio longer than the video", setup: tgt(func(t *testing.T, _ corpusFiles, in string) string {
			p := filepath.Join(in, "long-audio.mp4")
			ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=s=160x120:r=25:d=1", "-f", "lavfi", "-i", "sine=d=2",
				"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", p)
			return p
		}), run: processed, submit: processed},
		{name: "mkv with opus", setup: clipOf("clip.mkv", "160x120", 1, true, "-c:a", "libopus"), run: processed, submit: processed},
		{name: "mov", setup: clipOf("clip.mov", "160x120", 1, true), run: processed, submit: processed},
		{name: "webm vp9 opus", setup: clipOf("clip.webm", "160x120", 1, true, "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8",
			"-c:a", "libopus"), run: processed, submit: processed},
		{name: "avi mpeg4 mp3", setup: clipOf("clip.avi", "160x120", 1, true, "-c:v", "mpeg4", "-c:a", "libmp3lame"), run: processed, submit: processed},
		{name: "animated gif", setup: clipOf("anim.gif", "96x64", 1, false, "-c:v", "gif"), run: processed, submit: processed},
		{name: "image target", setup: func(t *testing.T, f corpusFiles, in string) (string, string, string) {
			return f.face, copyAs(t, f.noFace, in, "still.png"), "out.png"
		}, run: processed, submit: refuse("is an image"), names: "target"},

		{name: "damaged bytes inside mdat", setup: tgt(func(t *testing.T, f corpusFiles, in string) string {
			b, _ := os.ReadFile(f.clip)
			off, size := atomOffset(b, "mdat")
			b = append([]byte{}, b...)
			for i := off + size/3; i < off+size/3+2000; i += 7 {
				b[i] ^= 0x5a
			}
			return writeFile(t, in, "damaged.mp4", b)
		}), run: refuse("damaged"), submit: refuse("damaged"), names: "target"},

		// Paths.
		{name: "target through a symlink", setup: tgt(func(t *testing.T, f corpusFiles, in string) string {
			p := filepath.Join(in, "link.mp4")
			if err := os.Symlink(f.clip, p); err != nil {
				t.Fatal(err)
			}
			return p
		}), run: processed, submit: processed},
		{name: "path with spaces", setup: tgt(func(t *testing.T, f corpusFiles, in string) string {
			return copyAs(t, f.clip, in, "my holiday clip.mp4")
		}),
			run: processed, submit: processed},
		{name: "path with quotes", setup: tgt(func(t *testing.T, f corpusFiles, in string) string { return copyAs(t, f.clip, in, `it's "quoted".mp4`) }),
			run: processed, submit: processed},
		{name: "unicode path", setup: tgt(func(t *testing.T, f corpusFiles, in string) string {
			return copyAs(t, f.clip, in, "vidéo 東京 🎬.mp4")
		}),
			run: processed, submit: processed},
		{name: "path with a newline and a tab", setup: tgt(func(t *testing.T, f corpusFiles, in string) string { return copyAs(t, f.clip, in, "two\nlines\t.mp4") }),
			run: processed, submit: processed},
		{name: "longest file name", setup: tgt(func(t *testing.T, f corpusFiles, in string) string {
			return copyAs(t, f.clip, in, strings.Repeat("n", 251)+".mp4")
		}), run: processed, submit: processed},
		{name: "leading dash", setup: func(t *testing.T, f corpusFiles, in string) (string, string, string) {
			copyAs(t, f.face, in, "-face.png")
			copyAs(t, f.clip, in, "-clip.mp4")
			return "-face.png", "-clip.mp4", ""
		}, relativeArgs: true, run: processed, submit: processed},

		// Sources.
		{name: "source is text", setup: src(func(t *testing.T, _ corpusFiles, in string) string {
			return writeFile(t, in, "face.png", []byte("not a picture"))
		}),
			run: refuse("not an image"), submit: refuse("not an image"), names: "source"},
		{name: "source without a face", setup: src(func(t *testing.T, f corpusFiles, in string) string { return f.noFace }),
			run: refuse("no face"), submit: refuse("no face"), names: "source"},
		{name: "source is a video", setup: src(func(t *testing.T, f corpusFiles, in string) string { return copyAs(t, f.clip, in, "face.mp4") }),
			run: refuse("not an image"), submit: refuse("not an image"), names: "source"},
		{name: "source truncated png", setup: src(func(t *testing.T, f corpusFiles, in string) string {
			b, _ := os.ReadFile(f.face)
			return writeFile(t, in, "cut-face.png", b[:len(b)/2])
		}), run: refuse("not an image"), submit: refuse("not an image"), names: "source"},
		{name: "big source image", setup: src(func(t *testing.T, f corpusFiles, in string) string {
			p := filepath.Join(in, "big-face.jpg")
			ffmpeg(t, "-i", f.face, "-vf", "scale=6000:6000", p)
			return p
		}), run: processed, submit: processed},
		{name: "source png whose header claims 65535x65535", setup: src(func(t *testing.T, _ corpusFiles, in string) string {
			return writeFile(t, in, "bomb.png", pngClaiming(t, 65535, 65535, false))
		}), run: refuse("too large"), submit: refuse("too large"), names: "source"},
		{name: "source 16-bit png whose header claims 65535x65535", setup: src(func(t *testing.T, _ corpusFiles, in string) string {
			return writeFile(t, in, "bomb16.png", pngClaiming(t, 65535, 65535, true))
		}), run: refuse("too large"), submit: refuse("too large"), names: "source"},
		{name: "source jpeg whose header claims 65000x65000", setup: src(func(t *testing.T, _ corpusFiles, in string) string {
			return writeFile(t, in, "bomb.jpg", jpegClaiming(t, 65000, 65000))
		}), run: refuse("too large"), submit: refuse("too large"), names: "source"},
		{name: "target png whose header claims 65535x65535", setup: func(t *testing.T, f corpusFiles, in string) (string, string, string) {
			return f.face, writeFile(t, in, "bomb-target.png", pngClaiming(t, 65535, 65535, true)), "out.png"
		}, run: refuse("too large"), submit: refuse("is an image"), names: "target"},

		// Outputs.
		{name: "output is a directory", setup: out(func(t *testing.T, _ corpusFiles, in string) string { return "" }), outIsDir: true,
			run: processed, submit: processed},
		{name: "output directory not writable", setup: out(func(t *testing.T, _ corpusFiles, in string) string {
			if os.Geteuid() == 0 {
				return "/sys/out.mp4" // root writes through mode bits; sysfs refuses new files even to root
			}
			d := filepath.Join(in, "ro")
			if err := os.Mkdir(d, 0o555); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(d, "out.mp4")
		}), run: refuse("not writable"), submit: refuse("not writable"), names: "output directory"},
		{name: "output is the target", setup: func(t *testing.T, f corpusFiles, in string) (string, string, string) {
			p := copyAs(t, f.clip, in, "self.mp4")
			return f.face, p, p
		}, run: refuse("overwrite"), submit: refuse("overwrite"), names: "output"},
		{name: "output is the source", setup: func(t *testing.T, f corpusFiles, in string) (string, string, string) {
			p := copyAs(t, f.face, in, "face.png")
			return p, f.clip, p
		}, run: refuse("overwrite"), submit: refuse("overwrite"), names: "output"},
		{name: "output in a missing directory", setup: out(func(t *testing.T, _ corpusFiles, in string) string {
			return filepath.Join(in, "no", "such", "out.mp4")
		}), run: refuse("does not exist"), submit: refuse("does not exist"), names: "output directory"},
		{name: "output already exists", setup: out(func(t *testing.T, _ corpusFiles, in string) string { return "" }), outExists: true,
			run: processed, submit: processed},
		{name: "output name with unicode and spaces", setup: out(func(t *testing.T, _ corpusFiles, in string) string { return "résultat 出力.mkv" }),
			run: processed, submit: processed},
		{name: "output under a regular file", setup: out(func(t *testing.T, _ corpusFiles, in string) string {
			return filepath.Join(writeFile(t, in, "plain.txt", []byte("x")), "out.mp4")
		}), run: refuse("not a directory"), submit: refuse("not a directory"), names: "output directory"},
		{name: "longest output name", setup: out(func(t *testing.T, _ corpusFiles, in string) string { return strings.Repeat("o", 226) + ".mp4" }),
			run: processed, submit: processed},
		{name: "output name too long", setup: out(func(t *testing.T, _ corpusFiles, in string) string { return strings.Repeat("o", 251) + ".mp4" }),
			run: refuse("file name too long: at most 230 bytes"), submit: refuse("file name too long: at most 230 bytes"), names: "output"},
		{name: "output with an upper-case extension", setup: out(func(t *testing.T, _ corpusFiles, in string) string { return "OUT.MP4" }),
			run: processed, submit: processed},
		{name: "missing source", setup: src(func(t *testing.T, _ corpusFiles, in string) string { return filepath.Join(in, "nobody.png") }),
			run: refuse("not found"), submit: refuse("not found"), names: "source"},
		{name: "source is a directory", setup: src(func(t *testing.T, _ corpusFiles, in string) string {
			p := filepath.Join(in, "faces.png")
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
			return p
		}), run: refuse("directory"), submit: refuse("directory"), names: "source"},
		{name: "output of an unknown container", setup: out(func(t *testing.T, _ corpusFiles, in string) string { return "out.xyz" }),
			run: refuse("output must be"), submit: refuse("output must be"), names: "output"},
	}
}

// TestBadInputCorpus puts every case of the corpus through `coordinator run` and through `coordinator submit --wait
// -o` against one cluster (nats-server, versitygw, `serve`, one `worker`): each is processed (every frame of the
// target, audio kept) or refused with one line naming the file and the problem and a non-zero exit; never a hang, a
// crash, a modified input or a partial output.
func TestBadInputCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and runs every case twice")
	}
	e := newEnv(t)
	coord := e.coordinator("corpus")
	wrk := e.worker("corpus")
	shared := t.TempDir()
	f := corpusFiles{face: testenv.Face(t, "astronaut_eileen_collins.png"), noFace: filepath.Join(shared, "noface.png"),
		clip: clip(t, filepath.Join(shared, "clip.mp4"), "160x120", 2, true)}
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=s=160x120", "-frames:v", "1", f.noFace)

	for _, tc := range badInputCorpus() {
		t.Run(tc.name, func(t *testing.T) {
			in := t.TempDir()
			source, target, output := tc.setup(t, f, in)
			for _, mode := range []string{"run", "submit"} {
				want := tc.run
				if mode == "submit" {
					want = tc.submit
				}
				t.Run(mode, func(t *testing.T) {
					e.corpusCase(t, tc, mode, want, in, source, target, output)
					for _, p := range []*proc{coord, wrk} {
						select {
						case <-p.done:
							t.Fatalf("%s died: %v\n%s", p.name, p.err, tail(p.log, 20))
						default:
						}
					}
				})
			}
		})
	}
	for _, p := range []*proc{coord, wrk} {
		if m := crashText(tail(p.log, 1<<20)); m != "" {
			t.Errorf("%s's log shows a crash (%q):\n%s", p.name, m, tail(p.log, 30))
		}
	}
}

// corpusCase runs one case through one path and checks what it left.
func (e *env) corpusCase(t *testing.T, tc corpusCase, mode string, want outcome, in, source, target, output string) {
	outDir := t.TempDir()
	switch {
	case tc.outIsDir:
		output = outDir
	case output == "":
		output = filepath.Join(outDir, "out.mp4")
	case !filepath.IsAbs(output) && !tc.relativeArgs && output != source && output != target:
		output = filepath.Join(outDir, output)
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(in, p)
	}
	if tc.outExists {
		writeFile(t, outDir, filepath.Base(output), []byte("a previous output"))
	}
	inputs := map[string]string{}
	for _, p := range []string{source, target} {
		if st, err := os.Stat(abs(p)); err == nil && st.Mode().IsRegular() {
			inputs[abs(p)] = sha256File(t, abs(p))
		}
	}
	inBefore, outBefore := dirNames(t, in), dirNames(t, outDir)
	var expected mediaCounts
	if !want.refused {
		expected = countMedia(t, abs(target))
	}

	args := []string{mode, "-s", source, "-t", target, "-o", output}
	timeout := 2 * time.Minute
	if mode == "run" {
		args = append(args, "-q", "--workers", "1", "--execution-threads", "1", "--segment-seconds", "1", "--work-dir", t.TempDir())
	} else {
		args = append(args, "--wait", "--segment-seconds", "1")
	}
	stdout, stderr, err := e.cliIn(in, timeout, args...)
	t.Logf("%s: exit %v\nstdout: %s\nstderr: %s", mode, err, clipText(stdout), clipText(stderr))
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hang: no end after %s", timeout)
	}
	if m := crashText(stdout + stderr); m != "" {
		t.Errorf("output shows a crash (%q)", m)
	}
	if strings.Contains(stderr, "no coordinator is running") { // the cluster's coordinator runs throughout
		t.Errorf("submit says no coordinator is running while one serves")
	}
	for p, sum := range inputs {
		if sha256File(t, p) != sum {
			t.Errorf("input %s was modified", p)
		}
	}
	if got := dirNames(t, in); strings.Join(got, "\x00") != strings.Join(inBefore, "\x00") {
		t.Errorf("the input directory changed: %q -> %q", inBefore, got)
	}

	if want.refused {
		if err == nil {
			t.Fatalf("exit 0; want a refusal with %q", want.want)
		}
		line := errorLine(t, mode, stdout, stderr)
		named := map[string]string{"source": source, "target": target, "output": output, "output directory": filepath.Dir(output)}[tc.names]
		if !strings.Contains(line, filepath.Base(named)) || !strings.Contains(strings.ToLower(line), strings.ToLower(want.want)) {
			t.Errorf("refusal %q: want it to name %s and say %q", clipText(line), filepath.Base(named), want.want)
		}
		if got := dirNames(t, outDir); strings.Join(got, "\x00") != strings.Join(outBefore, "\x00") {
			t.Errorf("output directory holds %q after a refusal", got)
		}
		if _, err := os.Lstat(abs(output)); err == nil && inputs[abs(output)] == "" && !tc.outIsDir {
			t.Errorf("%s exists after a refusal", output)
		}
		return
	}
	if want.skip != "" && err != nil {
		t.Skipf("%s (exit %v: %s)", want.skip, err, strings.TrimSpace(stderr))
	}
	if err != nil {
		t.Fatalf("exit %v; want the target processed", err)
	}
	var produced string
	for _, n := range dirNames(t, outDir) {
		switch {
		case strings.HasPrefix(n, "."):
			t.Errorf("hidden file %s left beside the output", n)
		case strings.HasSuffix(n, ".provenance.json"):
		case produced != "":
			t.Errorf("more than one output: %s and %s", produced, n)
		default:
			produced = filepath.Join(outDir, n)
		}
	}
	if produced == "" {
		t.Fatalf("no output in %s", outDir)
	}
	got := countMedia(t, produced)
	if got.frames != expected.frames || (expected.audio && !got.audio) {
		if want.skip != "" {
			t.Skipf("%s: %d frames, audio %v; want %d, %v", want.skip, got.frames, got.audio, expected.frames, expected.audio)
		}
		t.Errorf("output: %d frames, audio %v; want the target's %d frames, audio %v", got.frames, got.audio, expected.frames, expected.audio)
	}
}

// errorLine returns the refusal: `run -q` writes nothing else on stderr; `submit --wait` may have printed the job id
// on stdout and progress lines (each starting with that id) on stderr before it.
func errorLine(t *testing.T, mode, stdout, stderr string) string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	id := strings.TrimSpace(stdout)
	var errs []string
	for _, l := range lines {
		if mode == "submit" && id != "" && strings.HasPrefix(l, id+" ") {
			continue
		}
		errs = append(errs, l)
	}
	if len(errs) != 1 || strings.TrimSpace(errs[0]) == "" {
		t.Errorf("want one line on stderr, got %d:\n%s", len(errs), clipText(stderr))
	}
	return strings.Join(errs, "\n")
}

// cliIn is env.cli run in dir (for relative paths).
func (e *env) cliIn(dir string, timeout time.Duration, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.coord, append(args, "--config", e.cfgPath)...)
	cmd.Dir, cmd.Env = dir, e.environ()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		return out.String(), errb.String(), ctx.Err()
	}
	return out.String(), errb.String(), err
}

// clipText keeps a crash's stack dump from drowning the test's report.
func clipText(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "…"
	}
	return s
}
