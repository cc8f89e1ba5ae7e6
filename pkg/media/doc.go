// Package media reads and writes video: probe, decode to raw frames, encode from raw frames, split, stitch and
// mux. It knows nothing about faces, queues or stores.
//
// Decoding, encoding, the packet scans, the probe and the stitch's remux run in this process with FFmpeg's
// libraries (libav.c, through cgo): frames never cross a pipe, and a scan costs no process. Split, CountFrames,
// ReadMetadata and a stitch that must re-encode audio run the ffprobe and ffmpeg commands, started with exec
// arguments, never through a shell; every input path is passed to them as "file:<path>" so that a name with a
// colon or a leading dash is never read as a protocol or an option. The decoder, encoder and stitch can also run
// as ffmpeg children (DecoderConfig.Process, EncoderConfig.Process, stitchRun): the reference the tests compare
// the in-process ones with, byte for byte. In process, a picture nobody reads can also go from the decoder to
// the encoder by reference (Frame, Decoder.ReadRef, Encoder.WriteRef), without the copy Read makes.
//
// Frame-exact segment pipeline, as this package implements it:
//
//	ScanFrames(src)            -> keyframes; plan segment starts on them
//	Split(src, starts)         -> segment-%05d.mkv, video only, stream copy, verified frame counts
//	Decoder(piece) -> frames -> Encoder(piece.mp4), identical settings for every piece
//	Stitch(pieces, AudioFrom)  -> concat demuxer, stream copy + the source's audio once
//
// Errors caused by a bad input file are *Error values that wrap one of the sentinel errors (ErrNotFound, ErrEmpty,
// ErrNotMedia, ErrNoVideo, ErrTruncated, ErrFFmpeg, ErrFrameCount); test them with errors.Is.
package media
