/**
 * What the bytes of a frame are, from the camera's FourCC and format kind: the handful of layouts the media helpers
 * understand, their exact sizes, and the file extensions they are saved under.
 */

/** 'other': a format the helpers can save and count but not check or convert (UYVY, H.265, vendor formats, …). */
export type PixelLayout = 'yuyv' | 'nv12' | 'grey' | 'mjpeg' | 'h264' | 'other';

export interface FrameGeometry {
  layout: PixelLayout;
  width: number;
  height: number;
}

const UNCOMPRESSED: Record<string, PixelLayout> = {
  YUY2: 'yuyv',
  YUYV: 'yuyv',
  NV12: 'nv12',
  GREY: 'grey',
  Y800: 'grey',
  Y8: 'grey',
};

/** The layout of a camera format, from its FourCC ('YUY2', 'MJPG', …) and descriptor kind ('uncompressed', …). */
export function pixelLayoutOf(fourcc: string, kind?: string): PixelLayout {
  const name = fourcc.trim().toUpperCase();
  if (kind === 'mjpeg' || name === 'MJPG' || name === 'MJPEG') return 'mjpeg';
  if (kind === 'h264' || name === 'H264' || name === 'AVC1') return 'h264';
  return UNCOMPRESSED[name] ?? 'other';
}

/** Bytes of one frame for layouts whose size is fixed; null for compressed or unknown ones. */
export function frameBytesOf(geometry: FrameGeometry): number | null {
  const { layout, width, height } = geometry;
  switch (layout) {
    case 'yuyv':
      return width * height * 2;
    case 'nv12':
      return (width * height * 3) / 2;
    case 'grey':
      return width * height;
    default:
      return null;
  }
}

/** File extension for one frame of this layout: 'jpg', 'yuv', 'nv12', 'grey', 'h264', 'raw'. */
export function frameExtensionOf(layout: PixelLayout): string {
  switch (layout) {
    case 'mjpeg':
      return 'jpg';
    case 'yuyv':
      return 'yuv';
    case 'nv12':
      return 'nv12';
    case 'grey':
      return 'grey';
    case 'h264':
      return 'h264';
    case 'other':
      return 'raw';
  }
}

/** Whether frames of this layout can be turned into pictures (PNG, JPEG) by the media helpers. */
export function isConvertible(layout: PixelLayout): boolean {
  return layout === 'yuyv' || layout === 'nv12' || layout === 'grey' || layout === 'mjpeg';
}
