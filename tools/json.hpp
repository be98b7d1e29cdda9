// A JSON object writer for the command line's machine-readable results (one line; nested
// objects and arrays through json() and json_array()).
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace mlpk::tools {

class Json {
 public:
  // `digits` significant digits: 9 keeps a float exact; 6 prints a float flag like 0.001 as typed.
  void number(std::string_view key, double v, int digits = 9) {
    char text[64];
    if (std::isfinite(v))
      std::snprintf(text, sizeof text, "%.*g", digits, v);
    else
      std::snprintf(text, sizeof text, "null");  // JSON has no NaN
    raw(key, text);
  }
  void integer(std::string_view key, unsigned long long v) { raw(key, std::to_string(v)); }
  void boolean(std::string_view key, bool v) { raw(key, v ? "true" : "false"); }
  void string(std::string_view key, std::string_view v) {
    std::string q = "\"";
    for (const char c : v) {
      if (c == '"' || c == '\\') q += '\\';
      if (static_cast<unsigned char>(c) < 0x20) continue;  // no control characters in our values
      q += c;
    }
    q += '"';
    raw(key, q);
  }
  // A value that is JSON already: an object's str(), or an array from json_array.
  void json(std::string_view key, const std::string& value) { raw(key, value); }
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void raw(std::string_view key, const std::string& value) {
    if (!body_.empty()) body_ += ", ";
    body_ += '"';
    body_ += key;
    body_ += "\": ";
    body_ += value;
  }
  std::string body_;
};

// "[a, b, ...]" of values that are JSON already.
inline std::string json_array(const std::vector<std::string>& values) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + values[i];
  return out + "]";
}

}  // namespace mlpk::tools
