#!/usr/bin/env python3
"""roop's command line for Facefleet.

Takes roop 1.3.2's `run.py` flags, and the memory-optimized fork's --memory-optimization, --batch-size and
--max-memory, unchanged, and hands over to `bin/coordinator run` (built with `make build` when missing), whose exit
status is this script's. A flag with no meaning here is accepted with a one-line note on stderr. Flags roop does not
have are Facefleet's own and go to `coordinator run` as they are (`--workers 2`, `--face-detector-model det_10g`).

Python 3 standard library only. FACEFLEET_COORDINATOR names another coordinator binary (tests).
"""

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
PROG = 'run.py'

# roop's encoders that Facefleet does not have, and the software encoder of the same codec it uses instead.
NVENC = {'h264_nvenc': 'libx264', 'hevc_nvenc': 'libx265'}
# roop's provider names are ONNX Runtime's without "ExecutionProvider", lower case.
GPU_PROVIDERS = ('cuda', 'tensorrt')


class Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line (argparse prints the usage first)."""

    def error(self, message):
        self.exit(2, '%s: error: %s (see %s --help)\n' % (PROG, message, PROG))


def percent(text):
    """roop's [0-100] choices, as one message rather than a list of 101 numbers."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError('%r: want a whole number from 0 to 100' % text)
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError('%r: want a whole number from 0 to 100' % text)
    return value


def gigabytes(text):
    """--max-memory: roop's whole GB, or a fraction."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError('%r: want a size in GB' % text)
    if not 0 <= value < float('inf'):
        raise argparse.ArgumentTypeError('%r: want a size in GB, 0 or more' % text)
    return value


def parser():
    p = Parser(prog=PROG, allow_abbrev=True,
               description="roop's command line for Facefleet: runs `bin/coordinator run` with the same choices. "
                           "Flags roop does not have go to `coordinator run` as they are "
                           "(see `bin/coordinator run --help`).",
               formatter_class=lambda prog: argparse.HelpFormatter(prog, max_help_position=50, width=120))
    # roop 1.3.2's flags, with its destinations and defaults (roop/core.py parse_args).
    p.add_argument('-s', '--source', dest='source_path', help='select an source image')
    p.add_argument('-t', '--target', dest='target_path', help='select an target image or video')
    p.add_argument('-o', '--output', dest='output_path', help='select output file or directory')
    p.add_argument('--frame-processor', dest='frame_processor', nargs='+', default=None, metavar='FRAME_PROCESSOR',
                   help='frame processors (choices: face_swapper, face_enhancer)')
    p.add_argument('--keep-fps', dest='keep_fps', action='store_true',
                   help='keep target fps (always kept here)')
    p.add_argument('--keep-frames', dest='keep_frames', action='store_true', help='keep the processed frames')
    p.add_argument('--skip-audio', dest='skip_audio', action='store_true', help='skip target audio')
    p.add_argument('--many-faces', dest='many_faces', action='store_true', help='process every face')
    p.add_argument('--reference-face-position', dest='reference_face_position', type=int, default=None,
                   help='position of the reference face')
    p.add_argument('--reference-frame-number', dest='reference_frame_number', type=int, default=None,
                   help='number of the reference frame')
    p.add_argument('--similar-face-distance', dest='similar_face_distance', type=float, default=None,
                   help='face distance used for recognition')
    p.add_argument('--temp-frame-format', dest='temp_frame_format', default=None, choices=['jpg', 'png'],
                   help='image format of the kept frames')
    p.add_argument('--temp-frame-quality', dest='temp_frame_quality', type=percent, default=None,
                   metavar='[0-100]', help='image quality of the kept frames')
    p.add_argument('--output-video-encoder', dest='output_video_encoder', default=None,
                   choices=['libx264', 'libx265', 'libvpx-vp9', 'h264_nvenc', 'hevc_nvenc'],
                   help='encoder used for the output video')
    p.add_argument('--output-video-quality', dest='output_video_quality', type=percent, default=None,
                   metavar='[0-100]', help='quality used for the output video')
    p.add_argument('--max-memory', dest='max_memory', type=gigabytes, default=None,
                   help='maximum amount of RAM in GB (for the whole job here)')
    p.add_argument('--execution-provider', dest='execution_provider', nargs='+', default=None,
                   metavar='EXECUTION_PROVIDER', help='execution provider (choices: cpu, cuda, tensorrt)')
    p.add_argument('--execution-threads', dest='execution_threads', type=int, default=None,
                   help='number of execution threads')
    p.add_argument('-v', '--version', dest='version', action='store_true', help="show Facefleet's version and exit")
    # The memory-optimized fork's flags.
    p.add_argument('--memory-optimization', dest='memory_optimization', action='store_true',
                   help='enable memory optimization')
    p.add_argument('--batch-size', dest='batch_size', type=int, default=None, help='batch size for processing')
    # This script's own.
    p.add_argument('--print-command', dest='print_command', action='store_true',
                   help='print the coordinator command as JSON and exit, running nothing')
    return p


def translate(argv):
    """Returns the coordinator's arguments (`run ...`, or `--version`), notes for stderr, and whether to only print."""
    args, extra = parser().parse_known_args(argv)
    notes = []
    if args.version:
        return ['--version'], notes, args.print_command
    out = ['run']

    def pair(flag, value):
        if value is not None:
            out.extend([flag, str(value)])

    pair('-s', args.source_path)
    pair('-t', args.target_path)
    pair('-o', args.output_path)
    if args.frame_processor is not None:
        out.extend(['--frame-processor', ','.join(args.frame_processor)])
    if args.keep_fps:
        notes.append('--keep-fps: ignored, the target\'s frame rate is always kept')
    if args.keep_frames:
        out.append('--keep-frames')
        notes.append('--keep-frames: the frames go to a folder named after the output (out.mp4: out-frames/), '
                     'not to temp/ beside the target')
    if args.skip_audio:
        out.append('--skip-audio')
    if args.many_faces:
        out.append('--many-faces')
    reference = [v is not None for v in (args.reference_face_position, args.reference_frame_number,
                                         args.similar_face_distance)]
    if any(reference) and args.many_faces:
        # roop ignores them with --many-faces; coordinator run refuses the pair, so they are not passed on.
        notes.append('--reference-face-position, --reference-frame-number, --similar-face-distance: unused with '
                     '--many-faces (every face is swapped)')
    else:
        # As in roop, they pick the person the default mode swaps (coordinator run's mode one follows that person).
        pair('--reference-face-position', args.reference_face_position)
        pair('--reference-frame-number', args.reference_frame_number)
        pair('--similar-face-distance', args.similar_face_distance)
    pair('--temp-frame-format', args.temp_frame_format)
    pair('--temp-frame-quality', args.temp_frame_quality)
    if not args.keep_frames and (args.temp_frame_format is not None or args.temp_frame_quality is not None):
        # roop wrote every frame to disk; here frames stay in memory unless they are kept.
        notes.append('--temp-frame-format, --temp-frame-quality: unused without --keep-frames (no frame is written '
                     'to disk here)')
    encoder = args.output_video_encoder
    if encoder in NVENC:
        notes.append('--output-video-encoder %s: NVENC is not supported here, encoding with %s' % (encoder, NVENC[encoder]))
        encoder = NVENC[encoder]
    pair('--output-video-encoder', encoder)
    pair('--output-video-quality', args.output_video_quality)
    if args.max_memory is not None:
        pair('--max-memory', '%g' % args.max_memory)
    if args.execution_provider is not None:
        providers = [p.lower() for p in args.execution_provider]
        gpu = [p for p in providers if p != 'cpu']
        chosen = gpu[0] if gpu else 'cpu'
        if len(set(providers)) > 1:
            notes.append('--execution-provider %s: one provider runs here, %s, without falling back to another'
                         % (' '.join(providers), chosen))
        pair('--execution-provider', chosen)
    pair('--execution-threads', args.execution_threads)
    if args.memory_optimization:
        out.append('--memory-optimization')
    pair('--batch-size', args.batch_size)
    return out + extra, notes, args.print_command


def coordinator():
    """The coordinator binary: FACEFLEET_COORDINATOR, or bin/coordinator built with `make build` when missing."""
    path = os.environ.get('FACEFLEET_COORDINATOR')
    if path:
        return path
    path = os.path.join(ROOT, 'bin', 'coordinator')
    if not os.access(path, os.X_OK):
        sys.stderr.write('%s: %s is missing: running make build\n' % (PROG, path))
        sys.stderr.flush()
        # make's output goes to stderr: stdout is the coordinator's.
        rc = subprocess.call(['make', '-C', ROOT, 'build'], stdout=sys.stderr.fileno())
        if rc != 0:
            sys.stderr.write('%s: make build failed (exit %d): see its output above\n' % (PROG, rc))
            sys.exit(rc)
    return path


def main(argv):
    command, notes, print_command = translate(argv)
    for note in notes:
        sys.stderr.write('%s: note: %s\n' % (PROG, note))
    if print_command:
        path = os.environ.get('FACEFLEET_COORDINATOR') or os.path.join(ROOT, 'bin', 'coordinator')
        print(json.dumps([path] + command))
        return 0
    path = coordinator()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(path, [path] + command)  # the coordinator's exit status is ours


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
