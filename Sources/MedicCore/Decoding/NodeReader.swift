import Foundation

/// Reads typed values out of `DocumentNode`s and records a diagnostic, at the node's path, for each problem.
///
/// Every reader returns nil on a problem and keeps going, so one pass reports every problem in a file.
struct NodeReader {
    var diagnostics: [Diagnostic] = []

    mutating func report(_ message: DiagnosticMessage, at path: DocumentPath, key: Bool = false) {
        diagnostics.append(Diagnostic(message, at: key ? .key(path) : .value(path)))
    }

    /// A mapping's entries by key; reports a non-mapping, non-string keys and keys not in `allowed`.
    mutating func fields(
        _ node: DocumentNode, at path: DocumentPath, what: String, allowed: [String]
    ) -> [String: DocumentNode]? {
        guard let entries = node.mapping else {
            report(.wrongType(expected: "a mapping (\(what))", found: node.kindDescription), at: path)
            return nil
        }
        var fields: [String: DocumentNode] = [:]
        for entry in entries {
            guard let name = entry.name, entry.key.scalar?.isNull == false || entry.key.scalar?.style.isQuoted == true
            else {
                diagnostics.append(Diagnostic(.nonScalarKey, at: .location(entry.key.location)))
                continue
            }
            guard allowed.contains(name) else {
                // A policy key written at the top of the runbook (`on_failure:` beside `steps:`) says where it goes.
                let misplaced = what == "runbook" && DSLKeys.policy.contains(name) ? "policy" : nil
                report(
                    .unknownKey(
                        name, in: what, suggestion: Suggestion.closest(to: name, in: allowed), belongsUnder: misplaced),
                    at: path / name, key: true)
                continue
            }
            if fields[name] == nil { fields[name] = entry.value }
        }
        return fields
    }

    /// Entries of a free-form mapping (params, env), in order, with keys checked as strings.
    mutating func entries(_ node: DocumentNode, at path: DocumentPath, what: String) -> [(String, DocumentNode)]? {
        if node.scalar?.isNull == true { return [] }
        guard let entries = node.mapping else {
            report(.wrongType(expected: "a mapping (\(what))", found: node.kindDescription), at: path)
            return nil
        }
        var result: [(String, DocumentNode)] = []
        for entry in entries {
            guard let name = entry.name else {
                diagnostics.append(Diagnostic(.nonScalarKey, at: .location(entry.key.location)))
                continue
            }
            result.append((name, entry.value))
        }
        return result
    }

    /// A scalar's text; any scalar style is accepted (so `owner: 123` is the string "123").
    mutating func string(_ node: DocumentNode, at path: DocumentPath, allowEmpty: Bool = false) -> String? {
        guard let scalar = node.scalar else {
            report(.wrongType(expected: "a string", found: node.kindDescription), at: path)
            return nil
        }
        if scalar.isNull {
            if allowEmpty, scalar.text.isEmpty { return "" }
            report(.nullValue(path.lastKey ?? "value"), at: path)
            return nil
        }
        return scalar.text
    }

    mutating func bool(_ node: DocumentNode, at path: DocumentPath) -> Bool? {
        guard let scalar = node.scalar, scalar.style == .plain, let value = YAMLScalarKind.bool(scalar.text) else {
            report(.wrongType(expected: "true or false", found: describe(node)), at: path)
            return nil
        }
        return value
    }

    mutating func int(_ node: DocumentNode, at path: DocumentPath) -> Int? {
        guard let scalar = node.scalar, scalar.style == .plain, let value = Int(scalar.text) else {
            report(.wrongType(expected: "a whole number", found: describe(node)), at: path)
            return nil
        }
        return value
    }

    mutating func positiveInt(_ node: DocumentNode, at path: DocumentPath) -> Int? {
        guard let value = int(node, at: path) else { return nil }
        guard value > 0 else {
            report(.mustBePositive("'\(path.lastKey ?? "value")'"), at: path)
            return nil
        }
        return value
    }

    mutating func duration(_ node: DocumentNode, at path: DocumentPath, positive: Bool = true) -> Duration? {
        guard let text = string(node, at: path) else { return nil }
        guard let value = Duration(dsl: text) else {
            report(.invalidDuration(text), at: path)
            return nil
        }
        if positive, value <= .zero {
            report(.mustBePositive("'\(path.lastKey ?? "duration")'"), at: path)
            return nil
        }
        return value
    }

    mutating func choice<T: RawRepresentable & CaseIterable>(
        _ node: DocumentNode, at path: DocumentPath, as type: T.Type
    ) -> T? where T.RawValue == String {
        guard let text = string(node, at: path) else { return nil }
        if let value = T(rawValue: text) { return value }
        let allowed = T.allCases.map(\.rawValue)
        report(
            .invalidEnumValue(text, allowed: allowed, suggestion: Suggestion.closest(to: text, in: allowed)), at: path)
        return nil
    }

    /// A list of scalars; each bad element is reported and left out.
    mutating func stringList(_ node: DocumentNode, at path: DocumentPath, hint: String? = nil) -> [String]? {
        guard let items = node.sequence else {
            let expected = hint ?? "a list of strings"
            report(.wrongType(expected: expected, found: node.kindDescription), at: path)
            return nil
        }
        var values: [String] = []
        for (index, item) in items.enumerated() {
            if let value = string(item, at: path / index) { values.append(value) }
        }
        return values
    }

    /// A template; syntax errors are reported at the node, with a column offset when the scalar is inline.
    mutating func template(_ node: DocumentNode, at path: DocumentPath) -> Template? {
        guard let text = string(node, at: path, allowEmpty: true) else { return nil }
        let (template, errors) = Template.parse(text)
        for error in errors {
            var diagnostic = Diagnostic(.templateSyntax(error.message), at: .value(path))
            diagnostic.location = inlineLocation(of: node, offset: error.offset)
            diagnostics.append(diagnostic)
        }
        return template
    }

    /// The position `offset` scalars into an inline scalar, or the node's own position for block scalars.
    func inlineLocation(of node: DocumentNode, offset: Int) -> SourceLocation {
        guard let scalar = node.scalar, !scalar.text.utf8.contains(UInt8(ascii: "\n")) else { return node.location }
        switch scalar.style {
        case .plain: return SourceLocation(line: node.location.line, column: node.location.column + offset)
        case .singleQuoted, .doubleQuoted:
            return SourceLocation(line: node.location.line, column: node.location.column + 1 + offset)
        case .literal, .folded: return node.location
        }
    }

    /// Compiles `pattern` as Alertmanager does (Go's `regexp`, `^(?:pattern)$`); reports a pattern Go would refuse at `path`, at the position of
    /// the problem when `node` holds the pattern inline, `patternOffset` scalars into its text.
    mutating func checkRegex(
        _ pattern: String, at path: DocumentPath, node: DocumentNode? = nil, patternOffset: Int? = 0
    ) -> Bool {
        do throws(GoRegex.SyntaxError) {
            _ = try GoRegex.alertmanager(pattern)
            return true
        } catch {
            var diagnostic = Diagnostic(.invalidRegex(pattern, error), at: .value(path))
            if let node, let patternOffset {
                diagnostic.location = inlineLocation(of: node, offset: patternOffset + error.offset)
            }
            diagnostics.append(diagnostic)
            return false
        }
    }

    private func describe(_ node: DocumentNode) -> String {
        guard let scalar = node.scalar else { return node.kindDescription }
        if scalar.isNull { return "null" }
        return "\(node.kindDescription) '\(scalar.text)'"
    }
}

extension DocumentPath {
    /// The last key in the path, for messages.
    var lastKey: String? {
        for component in components.reversed() {
            if case .key(let key) = component { return key }
        }
        return nil
    }
}
