/// Why one of Alertmanager's matcher parsers refused an item, and where: `column` counts Unicode scalars
/// from 0, as Alertmanager's UTF-8 lexer does.
struct MatcherSyntaxError: Error, Sendable, Equatable {
    var message: String
    var column: Int
}
