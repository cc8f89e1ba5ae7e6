// Package provenance labels every output as synthetic media: container metadata tags for videos, text chunks for
// images, and a sidecar JSON record beside the output. It knows nothing about how the output was made beyond
// the facts the caller hands it.
package provenance

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Label keys written into every output. The IPTC digital source type is the vocabulary C2PA and news agencies use
// for AI-made media; "synthetic_media" is a plain flag a script can grep for.
const (
	KeySynthetic  = "synthetic_media"
	KeySourceType = "digital_source_type"
	KeyGenerator  = "generator"
	KeyComment    = "comment"
	SourceType    = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
)

// Record is the sidecar provenance record written next to an output as <output>.provenance.json.
type Record struct {
	SyntheticMedia bool      `json:"synthetic_media"`
	DigitalSource  string    `json:"digital_source_type"`
	Generator      string    `json:"generator"`
	Created        time.Time `json:"created"`
	Output         string    `json:"output"`
	OutputSHA256   string    `json:"output_sha256"`
	SourceSHA256   string    `json:"source_sha256"`
	TargetSHA256   string    `json:"target_sha256"`
	Processors     []string  `json:"frame_processors"`
	Models         []string  `json:"models"`
	Frames         int       `json:"frames,omitempty"`
	Segments       int       `json:"segments,omitempty"`
	Watermark      bool      `json:"visible_watermark,omitempty"` // every frame carries the visible "AI-generated" mark
	Terms          string    `json:"terms"`
}

// Generator names the product in every label and record.
const Generator = "Facefleet"

// Terms is the use statement every record carries.
const Terms = "Face-swapped with consent for lawful use only; see the Facefleet README."

// New is the record of output made by processors, with the label every record carries and the time it is made;
// the caller adds the hashes, models, frames and segments it knows. Every command builds its records here.
func New(output string, processors []string) Record {
	return Record{SyntheticMedia: true, DigitalSource: SourceType, Generator: Generator, Created: time.Now().UTC(),
		Output: output, Processors: processors, Terms: Terms}
}

// Tags returns the container metadata tags for a video output.
func Tags(generator string) map[string]string {
	return map[string]string{
		KeySynthetic:  "true",
		KeySourceType: SourceType,
		KeyGenerator:  generator,
		KeyComment:    "synthetic media: faces altered by " + generator,
	}
}

// SidecarPath is where the record for output lives.
func SidecarPath(output string) string { return output + ".provenance.json" }

// WriteSidecar writes the record atomically next to its output.
func WriteSidecar(rec Record) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	p := SidecarPath(rec.Output)
	tmp, err := os.CreateTemp(filepath.Dir(p), ".provenance-*")
	if err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("provenance: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// FileSHA256 hashes a file.
func FileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// LabelImage inserts the tags into an encoded PNG (tEXt chunks after IHDR) or JPEG (a COM segment after SOI).
func LabelImage(img []byte, tags map[string]string) ([]byte, error) {
	keys := []string{KeySynthetic, KeySourceType, KeyGenerator, KeyComment}
	switch {
	case bytes.HasPrefix(img, pngMagic):
		const ihdrEnd = 8 + 8 + 13 + 4 // magic, IHDR length+type, IHDR data, crc
		if len(img) < ihdrEnd {
			return nil, errors.New("provenance: png too short")
		}
		var chunks bytes.Buffer
		for _, k := range keys {
			if v, ok := tags[k]; ok {
				writePNGChunk(&chunks, "tEXt", []byte(k+"\x00"+v))
			}
		}
		out := make([]byte, 0, len(img)+chunks.Len())
		out = append(out, img[:ihdrEnd]...)
		out = append(out, chunks.Bytes()...)
		return append(out, img[ihdrEnd:]...), nil
	case len(img) > 2 && img[0] == 0xFF && img[1] == 0xD8:
		var text bytes.Buffer
		for _, k := range keys {
			if v, ok := tags[k]; ok {
				fmt.Fprintf(&text, "%s=%s\n", k, v)
			}
		}
		if text.Len() > 65533 {
			return nil, errors.New("provenance: label too long for a JPEG comment")
		}
		seg := []byte{0xFF, 0xFE, 0, 0}
		binary.BigEndian.PutUint16(seg[2:], uint16(text.Len()+2))
		out := make([]byte, 0, len(img)+len(seg)+text.Len())
		out = append(out, img[:2]...)
		out = append(out, seg...)
		out = append(out, text.Bytes()...)
		return append(out, img[2:]...), nil
	}
	return nil, errors.New("provenance: only PNG and JPEG images can be labelled")
}

func writePNGChunk(w *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	w.Write(n[:])
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	w.WriteString(typ)
	w.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	w.Write(n[:])
}
