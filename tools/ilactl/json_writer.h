// A small streaming JSON writer for ilactl's -j output (compact, or indented with -p as `ip -j -p`
// does). Strings are escaped per RFC 8259; bytes >= 0x80 pass through (ilactl writes only ASCII
// and interface names, which the kernel keeps as bytes).
#ifndef ILA_TOOLS_JSON_WRITER_H_
#define ILA_TOOLS_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ilactl {

class JsonWriter {
 public:
  explicit JsonWriter(bool pretty) : pretty_(pretty) {}

  void BeginObject();
  void EndObject();
  void BeginArray();
  void EndArray();
  // The key of the next value inside an object.
  void Key(std::string_view key);

  void String(std::string_view value);
  void Uint(uint64_t value);
  void Int(int64_t value);
  void Bool(bool value);
  void Null();

  // Key + value in one call.
  void Field(std::string_view key, std::string_view value) {
    Key(key);
    String(value);
  }
  void Field(std::string_view key, const char* value) {
    Key(key);
    String(value);
  }
  void Field(std::string_view key, const std::string& value) {
    Key(key);
    String(value);
  }
  void Field(std::string_view key, bool value) {
    Key(key);
    Bool(value);
  }
  void FieldUint(std::string_view key, uint64_t value) {
    Key(key);
    Uint(value);
  }
  void FieldInt(std::string_view key, int64_t value) {
    Key(key);
    Int(value);
  }

  // The document so far, with a final newline when it is complete.
  std::string Finish();

  static std::string Escape(std::string_view s);

 private:
  struct Level {
    bool object;
    int count = 0;
  };
  void BeforeValue();
  void Close(bool object);
  void Newline();

  bool pretty_;
  bool after_key_ = false;
  std::vector<Level> stack_;
  std::string out_;
};

}  // namespace ilactl

#endif  // ILA_TOOLS_JSON_WRITER_H_
