// A one-line JSON object writer for the command line's machine-readable results.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>

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

}  // namespace mlpk::tools
