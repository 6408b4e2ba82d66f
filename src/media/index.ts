/** Frame formats for programs: Huffman table insertion, YUV → RGB, validity checks, frames as JPEG/PNG. */
export { ANNEX_K_HUFFMAN_TABLES, hasHuffmanTables, huffmanTablePieces, insertHuffmanTables, type HuffmanTable } from './huffman-tables.js';
export { yuyvToRgb, nv12ToRgb } from './yuv-to-rgb.js';
export { pixelLayoutOf, frameBytesOf, frameExtensionOf, isConvertible, type PixelLayout, type FrameGeometry } from './frame-format.js';
export { frameProblem, jpegMarkersOf } from './frame-check.js';
export { frameToJpeg, frameToPng, decodeJpeg, uncompressedPixels, type RawImage } from './frame-image.js';
