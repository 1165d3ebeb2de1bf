// Tokens of the formula language (specs/formula.md A.2.1).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kiln/core/status.h"
#include "kiln/formula/options.h"
#include "kiln/formula/source.h"

namespace kiln::formula {

enum class Tok : std::uint8_t {
  End, Number, Name, Placeholder, LParen, RParen, Comma,
  Plus, Minus, Star, Slash, SlashSlash, Percent, Pow,  // Pow: ** and ^
  Lt, Le, Gt, Ge, EqEq, Ne,
};

struct Token {
  Tok kind = Tok::End;
  Span span{};
  double number = 0.0;
  std::string_view name;  ///< Name: the identifier; Placeholder: the text between the braces
};

/// Produces tokens one at a time; errors (catalog codes 4001-4011, 4201, 4205) are located.
class Lexer {
 public:
  Lexer(const Source& src, const Limits& limits) : src_(src), t_(src.text()), limits_(limits) {}
  core::Status next(Token* tok);

 private:
  core::Status number(Token* tok);
  core::Status placeholder(Token* tok);
  core::Status bad_char(std::size_t i);
  const Source& src_;
  std::string_view t_;
  const Limits& limits_;
  std::size_t i_ = 0;
};

/// "operator *", "number 2", "name y", "')'", "the end of the formula" (messages).
std::string describe(const Token& tok, std::string_view text);

}  // namespace kiln::formula
