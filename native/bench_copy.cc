// For the benchmark only (bench/assembly.ts): C memcpy of a list of slices, the baseline the frame assembler is
// measured against. memcpySlices(sources, destinations, table): `sources` and `destinations` are ArrayBuffers;
// `table` is an Int32Array of rows [source, sourceOffset, length, destination, destinationOffset]. Every row is
// bounds-checked before anything is copied; then the copies run back to back with nothing else in the loop.
#include "bench_copy.h"

#include <cstring>
#include <vector>

#include "errors.h"

namespace uvc {

namespace {

struct Span {
  uint8_t* data;
  size_t size;
};

std::vector<Span> Buffers(Napi::Env env, Napi::Value value, const char* name) {
  if (!value.IsArray()) ThrowError(env, "EINVAL", std::string(name) + " must be an array of ArrayBuffers");
  Napi::Array array = value.As<Napi::Array>();
  std::vector<Span> spans(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value item = array.Get(i);
    if (!item.IsArrayBuffer()) ThrowError(env, "EINVAL", std::string(name) + " must be an array of ArrayBuffers");
    Napi::ArrayBuffer buffer = item.As<Napi::ArrayBuffer>();
    spans[i] = {static_cast<uint8_t*>(buffer.Data()), buffer.ByteLength()};
  }
  return spans;
}

}  // namespace

Napi::Value MemcpySlices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<Span> sources = Buffers(env, info[0], "sources");
  std::vector<Span> destinations = Buffers(env, info[1], "destinations");
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    ThrowError(env, "EINVAL", "table must be an Int32Array of [source, offset, length, destination, offset] rows");
  }
  Napi::Int32Array table = info[2].As<Napi::Int32Array>();
  size_t rows = table.ElementLength() / 5;
  const int32_t* t = table.Data();
  for (size_t r = 0; r < rows; r++) {
    const int32_t* row = t + 5 * r;
    bool ok = row[0] >= 0 && static_cast<size_t>(row[0]) < sources.size() && row[3] >= 0 &&
              static_cast<size_t>(row[3]) < destinations.size() && row[1] >= 0 && row[2] >= 0 && row[4] >= 0 &&
              static_cast<size_t>(row[1]) + row[2] <= sources[row[0]].size &&
              static_cast<size_t>(row[4]) + row[2] <= destinations[row[3]].size;
    if (!ok) ThrowError(env, "EINVAL", "table row " + std::to_string(r) + " is out of bounds");
  }
  for (size_t r = 0; r < rows; r++) {
    const int32_t* row = t + 5 * r;
    memcpy(destinations[row[3]].data + row[4], sources[row[0]].data + row[1], static_cast<size_t>(row[2]));
  }
  return env.Undefined();
}

}  // namespace uvc
