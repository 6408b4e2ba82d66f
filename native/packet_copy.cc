// The frame assembler's copy of packet payloads into a frame buffer, one call per run of packets instead of one
// TypedArray.prototype.set per packet: with 1–3 KB packets, V8's per-call work in set() costs about as much as
// the copy itself, and memcpy here is what the benchmark measures the assembler against.
//
// copyRuns(source, destination, table, count): `source` and `destination` are Uint8Arrays, `table` an Int32Array
// whose first `count` rows are [sourceOffset, length, destinationOffset] (offsets relative to the views). Every
// row is checked against both views before anything is copied (EINVAL otherwise: nothing is written).
#include "packet_copy.h"

#include <cstring>
#include <string>

#include "errors.h"

namespace uvc {

namespace {

struct View {
  uint8_t* data;
  size_t length;
};

bool TypedView(napi_env env, napi_value value, napi_typedarray_type expected, View* out) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return false;
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr) != napi_ok) return false;
  if (type != expected) return false;
  out->data = static_cast<uint8_t*>(data);
  out->length = length;
  return true;
}

}  // namespace

Napi::Value CopyRuns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  View source{}, destination{}, table{};
  if (info.Length() < 4 || !TypedView(env, info[0], napi_uint8_array, &source) ||
      !TypedView(env, info[1], napi_uint8_array, &destination) || !TypedView(env, info[2], napi_int32_array, &table) ||
      !info[3].IsNumber()) {
    ThrowError(env, "EINVAL", "copyRuns(source: Uint8Array, destination: Uint8Array, table: Int32Array, count)");
  }
  double count_value = info[3].As<Napi::Number>().DoubleValue();
  if (!(count_value >= 0) || count_value * 3 > static_cast<double>(table.length)) {
    ThrowError(env, "EINVAL", "copyRuns: count must be from 0 to the table's rows");
  }
  size_t rows = static_cast<size_t>(count_value);
  const int32_t* t = reinterpret_cast<const int32_t*>(table.data);
  for (size_t r = 0; r < rows; r++) {
    const int32_t* row = t + 3 * r;
    if (row[0] < 0 || row[1] < 0 || row[2] < 0 || static_cast<size_t>(row[0]) + row[1] > source.length ||
        static_cast<size_t>(row[2]) + row[1] > destination.length) {
      ThrowError(env, "EINVAL", "copyRuns: row " + std::to_string(r) + " is out of bounds");
    }
  }
  for (size_t r = 0; r < rows; r++) {
    const int32_t* row = t + 3 * r;
    memcpy(destination.data + row[2], source.data + row[0], static_cast<size_t>(row[1]));
  }
  return env.Undefined();
}

}  // namespace uvc
