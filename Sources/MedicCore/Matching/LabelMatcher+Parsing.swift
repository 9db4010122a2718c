extension LabelMatcher {
    /// Why a `match:` item could not be read, with the column (1-based, counting Unicode scalars within the
    /// item) of the problem.
    public struct ParseError: Error, Sendable, Equatable {
        public var message: String
        public var offset: Int
    }

    /// Reads one `match:` item as Alertmanager (0.27 and later, default "fallback" mode) reads one item of a
    /// route's `matchers:`: with both its parsers. The classic parser's result wins whenever it reads the item
    /// (Alertmanager returns it on disagreement too); otherwise the UTF-8 parser's. See `ClassicMatcherParser`
    /// and `UTF8MatcherParser` for what each accepts.
    ///
    /// An item may hold several matchers (`foo=bar,dings!=bums`, `{foo=bar,bar=baz}`). One that holds none
    /// (`""`, `{}`) is refused: a trigger built from it would fire on every alert.
    ///
    /// `regexIsValid` decides, as Go's `regexp.Compile` does for Alertmanager, whether a `=~`/`!~` value
    /// compiles; it can make one parser fail and the other win. By default every value passes and the
    /// decoder checks regexes afterwards.
    public static func parseMatchers(_ item: String, regexIsValid: (String) -> Bool = { _ in true })
        throws(ParseError) -> [LabelMatcher]
    {
        let scalars = Array(item.unicodeScalars)
        let utf8: Result<[LabelMatcher], MatcherSyntaxError>
        do throws(MatcherSyntaxError) {
            utf8 = .success(try UTF8MatcherParser.parse(scalars, regexIsValid: regexIsValid))
        } catch {
            utf8 = .failure(error)
        }
        let matchers: [LabelMatcher]
        do throws(MatcherSyntaxError) {
            matchers = try ClassicMatcherParser.parse(scalars, regexIsValid: regexIsValid)
        } catch let classic {
            switch utf8 {
            case .success(let parsed):
                matchers = parsed
            case .failure(let error):
                // Both refuse it: the UTF-8 parser's reason leads; the classic one is added where it points
                // elsewhere.
                let also =
                    classic.column == error.column
                    ? "" : " (the classic parser, at column \(classic.column + 1): \(classic.message))"
                throw ParseError(message: error.message + also, offset: error.column + 1)
            }
        }
        guard !matchers.isEmpty else {
            throw ParseError(message: "the item holds no matcher; `{}` would match every alert", offset: 1)
        }
        return matchers
    }

    /// Reads an item that must hold exactly one matcher (see `parseMatchers`).
    public static func parse(_ text: String) throws(ParseError) -> LabelMatcher {
        let matchers = try parseMatchers(text)
        guard matchers.count == 1 else {
            throw ParseError(message: "expected one matcher, found \(matchers.count)", offset: 1)
        }
        return matchers[0]
    }
}
