// Package media runs ffprobe and ffmpeg processes: probe, decode to raw frames, encode from raw frames, split,
// stitch and mux. It knows nothing about faces, queues or stores.
//
// Every process is started with exec arguments, never through a shell, and every input path is passed to ffmpeg
// as "file:<path>" so that a name with a colon or a leading dash is never read as a protocol or an option.
//
// Frame-exact segment pipeline, as this package implements it:
//
//	ScanFrames(src)            -> keyframes; plan segment starts on them
//	Split(src, starts)         -> segment-%05d.mkv, video only, stream copy, verified frame counts
//	Decoder(piece) -> frames -> Encoder(piece.mp4), identical settings for every piece
//	Stitch(pieces, AudioFrom)  -> concat demuxer (-c copy) + the source's audio once
//
// Errors caused by a bad input file are *Error values that wrap one of the sentinel errors (ErrNotFound, ErrEmpty,
// ErrNotMedia, ErrNoVideo, ErrTruncated, ErrFFmpeg, ErrFrameCount); test them with errors.Is.
package media
