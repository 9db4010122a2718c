import Foundation
import MedicCore
import Testing

/// Secrets never survive redaction, whatever the text around them does to Unicode.
@Suite struct RedactorTests {
    @Test("a secret is masked even when a combining mark follows it or it is printed in another normal form")
    func graphemesAndNormalForms() {
        let redactor = Redactor(secrets: ["s3cret", "caf\u{E9}-key"])
        #expect(redactor.redact("token=s3cret\u{0301} end") == "token=***\u{0301} end")
        #expect(redactor.redact("a\u{0308}s3cret") == "a\u{0308}***")
        #expect(redactor.redact("key cafe\u{0301}-key") == "key ***")
        #expect(redactor.redact("key caf\u{E9}-key") == "key ***")
        #expect(redactor.redact("nothing here") == "nothing here")
    }

    @Test("a secret that contains another is masked whole")
    func longestFirst() {
        let redactor = Redactor(secrets: ["abc", "abcdef"])
        #expect(redactor.redact("x abcdef y abc") == "x *** y ***")
    }

    @Test("shell quoting in plans escapes a quote even when a combining mark follows it")
    func planQuoting() {
        #expect(ShellQuoting.quote("it's") == #"'it'\''s'"#)
        #expect(ShellQuoting.quote("a'\u{0301}; rm -rf /") == "'a'\\''\u{0301}; rm -rf /'")
    }
}
