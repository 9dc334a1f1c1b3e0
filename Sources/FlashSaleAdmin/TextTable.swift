/// A plain-text table for the admin commands: a header line, then one line per row, columns
/// two spaces apart; numbers are right-aligned, text left-aligned.
public struct TextTable: Sendable {
    public let headers: [String]
    public private(set) var rows: [[String]] = []

    public init(_ headers: [String]) {
        self.headers = headers
    }

    public mutating func add(_ row: [String]) {
        precondition(row.count == self.headers.count, "a row needs one cell per column")
        self.rows.append(row)
    }

    public func render() -> String {
        let lines = [self.headers] + self.rows
        let widths = self.headers.indices.map { column in lines.map { $0[column].count }.max() ?? 0 }
        let numeric = self.headers.indices.map { column in
            !self.rows.isEmpty && self.rows.allSatisfy { Double($0[column].hasSuffix(" %") ? String($0[column].dropLast(2)) : $0[column]) != nil }
        }
        return lines.map { cells in
            cells.indices.map { column in
                let padding = String(repeating: " ", count: widths[column] - cells[column].count)
                return numeric[column] ? padding + cells[column] : cells[column] + padding
            }.joined(separator: "  ").trimmingTrailingSpaces()
        }.joined(separator: "\n")
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
