package media

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Info describes a media file as ffprobe sees it; the video fields are those of the first video stream that is
// not an attached picture (cover art).
type Info struct {
	Path         string
	FormatName   string   // ffprobe format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
	Duration     float64  // seconds; 0 when unknown (still images)
	Width        int      // coded size, before rotation
	Height       int      //
	Codec        string   // video codec name, e.g. "h264"
	PixFmt       string   // e.g. "yuv420p"
	FrameRate    Rational // r_frame_rate
	AvgFrameRate Rational // avg_frame_rate; zero when unknown
	// Rotation is the clockwise rotation, in degrees (0, 90, 180 or 270), that a player applies for display.
	// It is the convention of the legacy "rotate" tag and of ffmpeg's autorotate (90 -> transpose=clock); the
	// display matrix value ffprobe prints is counterclockwise, so it is negated here.
	Rotation   int
	HasAudio   bool
	AudioCodec string // first audio stream's codec name
	IsImage    bool   // a still image (image2 or *_pipe demuxers: png, jpeg, bmp, webp, tiff ...)
	BitDepth   int    // bits per colour component: 8, 10, 12 ...
	// Color is the video stream's colour tags ("" where untagged), kept on outputs that pass YUV through.
	Color Color
	// SampleAspect is the shape of a pixel (width:height; 3:4 for 4:3 pictures stored at 1920x1080, anamorphic DVD
	// and DV), zero where the file does not say: outputs keep it, or they would play stretched.
	SampleAspect Rational
}

// Color is a video stream's colour description, in ffmpeg's names (bt709, tv, ...).
type Color struct {
	Space     string `json:"space,omitempty"`
	Range     string `json:"range,omitempty"`
	Primaries string `json:"primaries,omitempty"`
	Transfer  string `json:"transfer,omitempty"`
}

// matrix is the scale filter's name of the matrix libswscale decodes c's pictures with, and their range: BT.601
// for untagged and unknown spaces (sws_getCoefficients' default), limited range unless tagged full. An encoder
// converting BGR back with these keeps the colours of every pixel no processor changed, tagged as the target.
func (c Color) matrix() (matrix, rng string) {
	matrix, rng = "bt601", "tv"
	switch c.Space {
	case "bt709", "fcc", "smpte170m", "smpte240m":
		matrix = c.Space
	case "bt470bg":
		matrix = "bt470"
	case "bt2020nc", "bt2020c":
		matrix = "bt2020"
	}
	if c.Range == "pc" {
		rng = "pc"
	}
	return matrix, rng
}

// known drops ffprobe's "unknown" and "unspecified".
func known(tag string) string {
	if tag == "unknown" || tag == "unspecified" {
		return ""
	}
	return tag
}

// VFR reports whether r_frame_rate and avg_frame_rate differ by more than 0.1%: a sign of variable frame rate,
// where rawvideo pipes (which carry no timestamps) need an explicit choice between passthrough and CFR.
func (i *Info) VFR() bool {
	r, a := i.FrameRate.Float(), i.AvgFrameRate.Float()
	if r == 0 || a == 0 {
		return false
	}
	return math.Abs(r-a)/r > 0.001
}

type probeStream struct {
	CodecName        string            `json:"codec_name"`
	CodecType        string            `json:"codec_type"`
	Width            int               `json:"width"`
	Height           int               `json:"height"`
	PixFmt           string            `json:"pix_fmt"`
	RFrameRate       string            `json:"r_frame_rate"`
	AvgFrameRate     string            `json:"avg_frame_rate"`
	SampleAspect     string            `json:"sample_aspect_ratio"`
	BitsPerRawSample string            `json:"bits_per_raw_sample"`
	ColorSpace       string            `json:"color_space"`
	ColorRange       string            `json:"color_range"`
	ColorPrimaries   string            `json:"color_primaries"`
	ColorTransfer    string            `json:"color_transfer"`
	Duration         string            `json:"duration"`
	Disposition      map[string]int    `json:"disposition"`
	Tags             map[string]string `json:"tags"`
	SideDataList     []struct {
		Rotation *float64 `json:"rotation"`
	} `json:"side_data_list"`
}

type probeOutput struct {
	Streams []probeStream `json:"streams"`
	Format  *probeFormat  `json:"format"`
}

type probeFormat struct {
	FormatName string            `json:"format_name"`
	Duration   string            `json:"duration"`
	Tags       map[string]string `json:"tags"`
}

// Probe reads what ffprobe -of json -show_format -show_streams shows of path, in this process (probeFile). A
// missing file is ErrNotFound, a zero-byte file ErrEmpty, a file ffprobe cannot read ErrNotMedia, a file without a
// video stream ErrNoVideo, and an MP4/MOV whose moov atom is missing (an interrupted recording or upload)
// ErrTruncated.
func Probe(ctx context.Context, path string) (*Info, error) {
	p, err := probeFile(ctx, path)
	if err != nil {
		return nil, err
	}
	if p.Format == nil || len(p.Streams) == 0 {
		return nil, &Error{Path: path, Err: ErrNotMedia, Detail: "no streams"}
	}
	return infoFrom(path, p)
}

func infoFrom(path string, p *probeOutput) (*Info, error) {
	info := &Info{Path: path, FormatName: p.Format.FormatName}
	info.Duration, _ = strconv.ParseFloat(p.Format.Duration, 64)
	var video *probeStream
	var kinds []string
	for i := range p.Streams {
		s := &p.Streams[i]
		kind := s.CodecType
		if kind == "video" && s.Disposition["attached_pic"] != 0 {
			kind = "cover art" // a picture, not video: "streams: audio, video" read as a contradiction
		}
		kinds = append(kinds, kind)
		switch {
		case s.CodecType == "video" && s.Disposition["attached_pic"] == 0 && video == nil:
			video = s
		case s.CodecType == "audio" && !info.HasAudio:
			info.HasAudio, info.AudioCodec = true, s.CodecName
		}
	}
	if video == nil {
		return nil, &Error{Path: path, Err: ErrNoVideo, Detail: "streams: " + strings.Join(kinds, ", ")}
	}
	info.Width, info.Height = video.Width, video.Height
	info.Codec, info.PixFmt = video.CodecName, video.PixFmt
	info.Color = Color{Space: known(video.ColorSpace), Range: known(video.ColorRange),
		Primaries: known(video.ColorPrimaries), Transfer: known(video.ColorTransfer)}
	info.FrameRate, _ = ParseRational(video.RFrameRate)
	info.AvgFrameRate, _ = ParseRational(video.AvgFrameRate)
	info.SampleAspect, _ = ParseRational(strings.Replace(video.SampleAspect, ":", "/", 1)) // ffprobe's "3:4"
	if info.Duration == 0 {
		info.Duration, _ = strconv.ParseFloat(video.Duration, 64)
	}
	info.Rotation = rotation(video)
	info.IsImage = p.Format.FormatName == "image2" || strings.HasSuffix(p.Format.FormatName, "_pipe")
	info.BitDepth = bitDepth(video.BitsPerRawSample, video.PixFmt)
	return info, nil
}

// rotation returns the clockwise display rotation: the display matrix (counterclockwise in ffprobe's report)
// wins over the legacy "rotate" tag (clockwise), which ffprobe 5 no longer prints but older files may carry.
func rotation(s *probeStream) int {
	deg := 0.0
	found := false
	for _, sd := range s.SideDataList {
		if sd.Rotation != nil {
			deg, found = -*sd.Rotation, true
			break
		}
	}
	if !found {
		if t, err := strconv.ParseFloat(s.Tags["rotate"], 64); err == nil {
			deg = t
		}
	}
	return normRotation(deg)
}

// normRotation rounds to the nearest quarter turn in [0, 360).
func normRotation(deg float64) int {
	q := int(math.Round(deg / 90))
	return ((q%4 + 4) % 4) * 90
}

var depthRe = regexp.MustCompile(`(?:p|gray|gbrp|gbrap)(\d+)(?:le|be)$`)

// bitDepth prefers bits_per_raw_sample and falls back to the pixel format name (yuv420p10le -> 10).
func bitDepth(raw, pixFmt string) int {
	if n, err := strconv.Atoi(raw); err == nil && n > 0 {
		return n
	}
	if m := depthRe.FindStringSubmatch(pixFmt); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil {
			return n
		}
	}
	switch {
	case strings.HasPrefix(pixFmt, "p010"):
		return 10
	case strings.HasPrefix(pixFmt, "rgb48"), strings.HasPrefix(pixFmt, "bgr48"),
		strings.HasPrefix(pixFmt, "rgba64"), strings.HasPrefix(pixFmt, "bgra64"):
		return 16
	}
	return 8
}

// CheckInput reports the problems a stat can see before ffmpeg runs (missing, a directory, empty), so they get
// precise one-line errors naming the file.
func CheckInput(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &Error{Path: path, Err: ErrNotFound}
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return &Error{Path: path, Err: err}
	case fi.IsDir():
		return &Error{Path: path, Err: ErrNotMedia, Detail: "is a directory"}
	case !fi.Mode().IsRegular():
		// A named pipe or a device: reading one may block forever or never end, and its size says nothing.
		return &Error{Path: path, Err: ErrNotMedia, Detail: "not a regular file"}
	case fi.Size() == 0:
		return &Error{Path: path, Err: ErrEmpty}
	}
	return nil
}

// checkInput is CheckInput for a path or a URL (IsURL), which its server checks when it is opened. A user's file
// name is checked with CheckInput, which takes no URL: only the coordinator reads an input by URL.
func checkInput(path string) error {
	if IsURL(path) {
		return nil
	}
	return CheckInput(path)
}

// IsURL reports whether an input is read over HTTP (a stored target read in place by a presigned URL) rather than
// from a file. Such a URL holds credentials: errors carry it, and callers that show them replace it with the name
// the user knows.
func IsURL(path string) bool {
	return strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://")
}

// truncationMarkers are what ffmpeg 5.1's demuxers print when a file ends before its data does.
var truncationMarkers = []string{
	"partial file",           // mov: sample data past the end of the file
	"File ended prematurely", // matroska
	"error reading header",   // mov: moov itself cut short
	"Truncating packet",
	"End of file",
}

// inputError classifies an ffmpeg/ffprobe failure to open or read path. "moov atom not found" means a truncated
// MP4 only if the file starts like one: ffprobe says the same about a text file named .mp4.
func inputError(path, stderr string, args ...string) *Error {
	e := newError(path, ErrNotMedia, stderr, args...)
	if strings.Contains(stderr, "moov atom not found") {
		if looksLikeISOBMFF(path) {
			e.Err, e.Detail = ErrTruncated, "moov atom not found"
		}
		return e
	}
	if m := firstMarker(stderr); m != "" {
		e.Err = ErrTruncated
	}
	return e
}

func firstMarker(stderr string) string {
	for _, m := range truncationMarkers {
		if strings.Contains(stderr, m) {
			return m
		}
	}
	return ""
}

// looksLikeISOBMFF reports whether the file starts with an ISO BMFF (MP4/MOV) box header.
func looksLikeISOBMFF(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var hdr [8]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return false
	}
	switch string(hdr[4:8]) {
	case "ftyp", "moov", "mdat", "free", "skip", "wide", "pnot", "uuid":
		return true
	}
	return false
}

// FrameIndex is the per-frame packet scan of the first video stream, in presentation order.
type FrameIndex struct {
	Count int // frames (packets) in the stream that a decoder outputs
	// Keyframes are the indices (presentation order, 0-based) of keyframes, ascending. The list always starts
	// with 0, even when the first presented frame's packet lacks the key flag (open-GOP leading pictures):
	// decoding always starts there.
	Keyframes []int
	PTS       []float64 // presentation time in seconds of every frame, ascending
	// Discarded counts packets an MP4/MOV edit list hides (ffprobe flag "D"). They are not in Count, but a stream
	// copy into matroska shows them, so Split cannot cut such a file exactly: re-encode it first.
	Discarded int
	// End is when the last frame ends, in seconds on PTS's clock: its time plus its packet's duration, or plus the
	// gap before it where the container gives none.
	End float64
	// TimeBase is the stream's time base: every time in it is a whole number of these.
	TimeBase Rational
}

// OutputTimeBase is the time base an output needs to keep these frames' times, given the nominal rate: zero when
// every frame is where frame i of a constant rate is (i/rate after the first, within the stream's own rounding),
// so that stamping frame i at i/rate loses nothing, or when the stream has no times to keep (a raw H.264 file);
// else 1/T, T the stream's time base denominator doubled up to at least 10000 (as ffmpeg's mov muxer does for a
// copy), in which every time of the stream is exact.
func (x *FrameIndex) OutputTimeBase(rate Rational) Rational {
	for _, t := range x.PTS {
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return Rational{}
		}
	}
	tb := x.TimeBase.reduced()
	if tb.Num <= 0 || tb.Den <= 0 {
		tb = Rational{1, 1_000_000} // unknown: microseconds, the precision PTS holds
	}
	if x.onGrid(rate, tb) {
		return Rational{}
	}
	T := tb.Den
	for T < 10000 {
		T *= 2
	}
	return Rational{1, T}
}

// onGrid reports whether every frame is at i/rate from the first, within half a tick of tb and the microsecond
// PTS are rounded to.
func (x *FrameIndex) onGrid(rate Rational, tb Rational) bool {
	if rate.Num <= 0 || rate.Den <= 0 || len(x.PTS) == 0 {
		return false
	}
	tol := tb.Float()/2 + 2e-6
	for i, t := range x.PTS {
		if math.Abs(t-x.PTS[0]-float64(i)*float64(rate.Den)/float64(rate.Num)) > tol {
			return false
		}
	}
	return true
}

// ScanFrames lists the packets of the first video stream, as ffprobe -show_entries packet=pts_time,dts_time,flags
// would (read in this process; see scanVideo): fast, because nothing is decoded. Packets are sorted by
// presentation time; one without a pts takes its dts, and one with neither keeps its place.
func ScanFrames(ctx context.Context, path string) (*FrameIndex, error) {
	s, err := scanVideo(ctx, path, true)
	if err != nil {
		return nil, err
	}
	return framesOf(path, s)
}

// ScanIndex is ScanFrames for an MP4 or MOV of H.264 or HEVC, read from its sample tables (the moov) without
// reading a sample: a few requests where path is a URL (IsURL), however long the video. Packets, times and key
// flags are what the tables say, as ScanFrames reads them from such a file; a file whose tables lie gets a plan
// that Split's piece checks refuse. ErrNoIndex where it cannot (another container or codec, a fragmented MP4, an
// input that cannot seek): ScanFrames reads those.
func ScanIndex(ctx context.Context, path string) (*FrameIndex, error) {
	s, err := scanIndex(ctx, path)
	if err != nil {
		return nil, err
	}
	return framesOf(path, s)
}

// framesOf is the FrameIndex of a scan with packets.
func framesOf(path string, s *videoScan) (*FrameIndex, error) {
	if !s.found {
		return nil, &Error{Path: path, Err: ErrNoVideo}
	}
	idx := indexPackets(s.packets)
	if idx.Count == 0 {
		// The header declares a video stream but no packet of it is there: a moov cut short (an interrupted
		// recording or copy), not a file without video.
		return nil, &Error{Path: path, Err: ErrTruncated, Detail: "its video stream has no packets"}
	}
	idx.TimeBase = s.timeBase
	return idx, nil
}

// rawPacket is one packet as read: times in seconds, NaN when absent; duration 0 when unknown.
type rawPacket struct {
	pts, dts, duration float64
	key, discard       bool
}

// indexPackets builds the FrameIndex of a stream's packets in file order.
func indexPackets(raw []rawPacket) *FrameIndex {
	type packet struct {
		pts, duration float64
		key           bool
	}
	var pkts []packet
	idx := &FrameIndex{}
	last := math.Inf(-1)
	for _, r := range raw {
		if r.discard {
			idx.Discarded++
			continue
		}
		t := r.pts
		if math.IsNaN(t) {
			if t = r.dts; math.IsNaN(t) {
				t = last
			}
		}
		last = t
		pkts = append(pkts, packet{pts: t, duration: r.duration, key: r.key})
	}
	sort.SliceStable(pkts, func(i, j int) bool { return pkts[i].pts < pkts[j].pts })
	idx.Count = len(pkts)
	idx.PTS = make([]float64, len(pkts))
	for i, p := range pkts {
		idx.PTS[i] = p.pts
		if p.key || i == 0 {
			idx.Keyframes = append(idx.Keyframes, i)
		}
	}
	if n := len(pkts); n > 0 {
		d := pkts[n-1].duration
		if d <= 0 && n > 1 {
			d = pkts[n-1].pts - pkts[n-2].pts
		}
		idx.End = pkts[n-1].pts + d
	}
	return idx
}

// CountFrames decodes the first video stream and counts its frames (ffprobe -count_frames): slow, for
// verification.
func CountFrames(ctx context.Context, path string) (int, error) {
	out, err := ffprobe(ctx, "count frames", path, "-select_streams", "V:0", "-count_frames",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0")
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(out))
	if s == "" {
		return 0, &Error{Path: path, Err: ErrNoVideo}
	}
	n, err := strconv.Atoi(strings.TrimSuffix(s, ","))
	if err != nil {
		return 0, &Error{Path: path, Err: ErrNotMedia, Detail: fmt.Sprintf("nb_read_frames %q", s)}
	}
	return n, nil
}

// ReadMetadata returns the container (format) tags of a file. Keys are lower-cased because matroska and webm
// store tag names upper-case: a key written by Stitch as "facefleet_job" reads back as "facefleet_job" from
// every container.
func ReadMetadata(ctx context.Context, path string) (map[string]string, error) {
	out, err := ffprobe(ctx, "read metadata", path, "-of", "json", "-show_entries", "format_tags")
	if err != nil {
		return nil, err
	}
	var p probeOutput
	if err := json.Unmarshal(out, &p); err != nil {
		return nil, &Error{Path: path, Err: ErrNotMedia, Detail: "ffprobe output: " + err.Error()}
	}
	md := map[string]string{}
	if p.Format != nil {
		for k, v := range p.Format.Tags {
			md[strings.ToLower(k)] = v
		}
	}
	return md, nil
}
