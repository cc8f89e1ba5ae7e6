package provenance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
	"unicode"
)

// Verdict is what Inspect found, as `coordinator inspect`'s exit code (1 is every command's error: the file could
// not be read).
type Verdict int

const (
	// Verified: the file carries the synthetic-media label and its sidecar record's sha256 is the file's.
	Verified Verdict = 0
	// Unlabelled: no label in the file and no sidecar beside it.
	Unlabelled Verdict = 2
	// Unverified: the file is labelled (or has a sidecar) but the two do not agree: the sidecar is missing,
	// unreadable, or records another sha256 (the file changed after it was made), or the label was stripped.
	Unverified Verdict = 3
)

// maxSidecar bounds the sidecar read: a record is a few hundred bytes; anything beside a file is untrusted.
const maxSidecar = 1 << 20

// maxLabelChunk bounds one label chunk or comment read from a picture.
const maxLabelChunk = 1 << 16

// Report is what Inspect found in a file and its sidecar.
type Report struct {
	Path    string
	Verdict Verdict
	// Label is the synthetic-media tags found in the file (empty: none).
	Label map[string]string
	// Record is the sidecar's record when it could be read and is well formed.
	Record *Record
	// SHA256 is the file's.
	SHA256 string
	// Problem says why the verdict is not Verified.
	Problem string
}

// Labelled reports whether tags carry the label New's outputs carry.
func Labelled(tags map[string]string) bool {
	return tags[KeySynthetic] == "true" || tags[KeySourceType] == SourceType
}

// Inspect reads path's synthetic-media label (a picture's PNG text chunks or JPEG comment here; a video's container
// tags through tags, media.ReadMetadata) and its sidecar record, and checks the record's sha256 against the file.
// The error is for a file that cannot be read at all.
func Inspect(ctx context.Context, path string, tags func(context.Context, string) (map[string]string, error)) (Report, error) {
	r := Report{Path: path}
	st, err := os.Stat(path)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return r, fmt.Errorf("%s: %w", path, pe.Err) // the user's name once, not "stat NAME"
	}
	if err != nil {
		return r, err
	}
	if !st.Mode().IsRegular() {
		return r, fmt.Errorf("%s: not a regular file", path)
	}
	label, picture, err := pictureLabel(path)
	if err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	if !picture {
		if label, err = tags(ctx, path); err != nil {
			return r, err
		}
	}
	r.Label = map[string]string{}
	for _, k := range []string{KeySynthetic, KeySourceType, KeyGenerator, KeyComment} {
		if v, ok := label[k]; ok {
			r.Label[k] = oneLine(v)
		}
	}
	if r.SHA256, err = FileSHA256(path); err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	rec, sidecarErr := readSidecar(SidecarPath(path))
	labelled := Labelled(r.Label)
	switch {
	case !labelled && errors.Is(sidecarErr, os.ErrNotExist):
		r.Verdict, r.Problem = Unlabelled, "no synthetic-media label and no provenance record"
	case sidecarErr != nil && errors.Is(sidecarErr, os.ErrNotExist):
		r.Verdict, r.Problem = Unverified, "its provenance record "+SidecarPath(path)+" is missing"
	case sidecarErr != nil:
		r.Verdict, r.Problem = Unverified, "its provenance record "+SidecarPath(path)+" is unreadable: "+oneLine(sidecarErr.Error())
	case rec.OutputSHA256 != r.SHA256:
		r.Record = &rec
		r.Verdict, r.Problem = Unverified, fmt.Sprintf("its provenance record is of another file (sha256 %s; this file's is %s): the file was changed after it was made", rec.OutputSHA256, r.SHA256)
	case !labelled:
		r.Record = &rec
		r.Verdict, r.Problem = Unverified, "its provenance record matches, but the file's own synthetic-media label is gone"
	default:
		r.Record, r.Verdict = &rec, Verified
	}
	return r, nil
}

// readSidecar reads and checks a sidecar record: bounded, strict JSON, hashes as hex, texts on one line.
func readSidecar(p string) (Record, error) {
	var rec Record
	f, err := os.Open(p)
	if err != nil {
		return rec, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSidecar+1))
	if err != nil {
		return rec, err
	}
	if len(b) > maxSidecar {
		return rec, fmt.Errorf("over %d bytes", maxSidecar)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("not a provenance record (%v)", err)
	}
	if !rec.SyntheticMedia || rec.Generator != Generator {
		return rec, fmt.Errorf("not a %s record (synthetic_media %v, generator %q)", Generator, rec.SyntheticMedia, oneLine(rec.Generator))
	}
	for name, h := range map[string]string{"output_sha256": rec.OutputSHA256, "source_sha256": rec.SourceSHA256, "target_sha256": rec.TargetSHA256} {
		if b, err := hex.DecodeString(h); (err != nil || len(b) != 32) && !(h == "" && name != "output_sha256") {
			return rec, fmt.Errorf("%s %q is not a sha256", name, oneLine(h))
		}
	}
	rec.Output, rec.Terms, rec.DigitalSource = oneLine(rec.Output), oneLine(rec.Terms), oneLine(rec.DigitalSource)
	for i := range rec.Processors {
		rec.Processors[i] = oneLine(rec.Processors[i])
	}
	for i := range rec.Models {
		rec.Models[i] = oneLine(rec.Models[i])
	}
	return rec, nil
}

// oneLine makes an untrusted text safe to print on a terminal: control characters (escape sequences among them)
// become spaces, and it is cut at 200 bytes.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:197], "") + "..."
	}
	return s
}

// pictureLabel reads the label of a PNG (tEXt chunks before the image data) or a JPEG (comments before the scan);
// picture is false for any other file.
func pictureLabel(path string) (label map[string]string, picture bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	head, _ := r.Peek(len(pngMagic))
	switch {
	case bytes.Equal(head, pngMagic):
		label, err = pngLabel(r)
		return label, true, err
	case len(head) >= 2 && head[0] == 0xFF && head[1] == 0xD8:
		label, err = jpegLabel(r)
		return label, true, err
	}
	return nil, false, nil
}

func pngLabel(r *bufio.Reader) (map[string]string, error) {
	label := map[string]string{}
	if _, err := r.Discard(len(pngMagic)); err != nil {
		return nil, err
	}
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, errors.New("damaged PNG: it ends before its image data")
		}
		n, typ := binary.BigEndian.Uint32(hdr[:4]), string(hdr[4:])
		if typ == "IDAT" || typ == "IEND" {
			return label, nil // labels come before the image data
		}
		if typ != "tEXt" || n > maxLabelChunk {
			if _, err := r.Discard(int(n) + 4); err != nil {
				return nil, errors.New("damaged PNG: a chunk runs past the end")
			}
			continue
		}
		data := make([]byte, n+4)
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, errors.New("damaged PNG: a chunk runs past the end")
		}
		if k, v, ok := bytes.Cut(data[:n], []byte{0}); ok {
			label[string(k)] = string(v)
		}
	}
}

func jpegLabel(r *bufio.Reader) (map[string]string, error) {
	label := map[string]string{}
	if _, err := r.Discard(2); err != nil {
		return nil, err
	}
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil || hdr[0] != 0xFF {
			return nil, errors.New("damaged JPEG: no image data after its header")
		}
		marker, n := hdr[1], int(binary.BigEndian.Uint16(hdr[2:]))
		if marker == 0xDA || marker == 0xD9 { // start of scan, or the end: labels come before
			return label, nil
		}
		if n < 2 {
			return nil, errors.New("damaged JPEG: a segment's length is below 2")
		}
		data := make([]byte, n-2)
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, errors.New("damaged JPEG: a segment runs past the end")
		}
		if marker != 0xFE {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				label[k] = v
			}
		}
	}
}

// String is the report as `coordinator inspect` prints it: the verdict on the first line, plainly, then what the
// record says.
func (r Report) String() string {
	var b strings.Builder
	name := oneLine(r.Path)
	switch r.Verdict {
	case Verified:
		fmt.Fprintf(&b, "%s: made by %s (labelled as synthetic media; its provenance record matches the file)\n", name, Generator)
	case Unlabelled:
		fmt.Fprintf(&b, "%s: no %s label: %s (not made by %s, or its label was stripped)\n", name, Generator, r.Problem, Generator)
	default:
		fmt.Fprintf(&b, "%s: labelled as made by %s, but not verified: %s\n", name, Generator, r.Problem)
	}
	if len(r.Label) > 0 {
		fmt.Fprintf(&b, "  label:      %s=%s %s=%s\n", KeySynthetic, r.Label[KeySynthetic], KeySourceType, r.Label[KeySourceType])
	}
	fmt.Fprintf(&b, "  sha256:     %s\n", r.SHA256)
	if rec := r.Record; rec != nil {
		fmt.Fprintf(&b, "  made:       %s\n", rec.Created.UTC().Format(time.RFC3339))
		fmt.Fprintf(&b, "  source:     sha256 %s\n", rec.SourceSHA256)
		fmt.Fprintf(&b, "  target:     sha256 %s\n", rec.TargetSHA256)
		fmt.Fprintf(&b, "  processors: %s\n", strings.Join(rec.Processors, ", "))
		if rec.Watermark {
			fmt.Fprintf(&b, "  mark:       every frame carries the visible \"AI-generated\" mark\n")
		}
		if len(rec.Models) > 0 {
			fmt.Fprintf(&b, "  models:     %s\n", strings.Join(rec.Models, ", "))
		}
	}
	return b.String()
}
