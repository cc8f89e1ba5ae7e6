// libjpeg-turbo glue: decode to BGR and encode from BGR with the settings OpenCV's imgcodecs uses, so pictures are
// byte for byte what cv::imread and cv::imencode give, without linking imgcodecs (and, through it, GDAL).
#ifndef FACEFLEET_IMAGEFILE_JPEG_H
#define FACEFLEET_IMAGEFILE_JPEG_H

#include <stddef.h>

#define IMGJPEG_MSG 200

// imgjpeg_header reads the size and the number of components. Returns 0, or -1 with msg set.
int imgjpeg_header(const unsigned char *data, size_t n, int *width, int *height, int *components, char *msg);

// imgjpeg_decode_bgr decodes a 1- or 3-component JPEG into out, width*height*3 bytes of BGR.
int imgjpeg_decode_bgr(const unsigned char *data, size_t n, unsigned char *out, int width, int height, char *msg);

// imgjpeg_encode_bgr encodes a BGR picture (stride bytes a row). luma_h and luma_v are the luma sampling factors
// (2 and 2 for 4:2:0, 1 and 1 for 4:4:4). *out is malloc'ed: the caller frees it.
int imgjpeg_encode_bgr(const unsigned char *bgr, int width, int height, int stride, int quality, int luma_h,
                       int luma_v, unsigned char **out, unsigned long *out_len, char *msg);

#endif
