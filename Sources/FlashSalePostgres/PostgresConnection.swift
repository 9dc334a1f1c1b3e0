internal import CLibPQ
import Foundation

public enum PostgresError: Error, Sendable, Hashable {
    case connectionFailed(String)
    case queryFailed(sqlState: String, message: String)
}

/// One libpq connection. Every call blocks: run it on a thread of its own, never on an event loop
/// or the cooperative pool: `PostgresClient` owns one on a thread of its own.
public final class PostgresConnection {
    private let connection: OpaquePointer

    public init(url: String) throws(PostgresError) {
        guard let connection = PQconnectdb(url) else { throw .connectionFailed("cannot allocate a libpq connection") }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.text(PQerrorMessage(connection))
            PQfinish(connection)
            throw .connectionFailed(message)
        }
        self.connection = connection
    }

    deinit {
        PQfinish(self.connection)
    }

    /// Runs one statement with text parameters ($1, $2, ...) and returns its rows as text, NULL as nil.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> [[String?]] {
        let result = Self.withCStrings(parameters) { values in
            PQexecParams(self.connection, sql, Int32(parameters.count), nil, values, nil, nil, 0)
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK:
            break
        default:
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
            throw .queryFailed(sqlState: state, message: Self.text(PQresultErrorMessage(result)))
        }
        var rows: [[String?]] = []
        let rowCount = PQntuples(result)
        let columnCount = PQnfields(result)
        rows.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            var values: [String?] = []
            for column in 0..<columnCount {
                values.append(
                    PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
                )
            }
            rows.append(values)
        }
        return rows
    }

    /// False once the server closed the connection or it broke.
    public var isHealthy: Bool { PQstatus(self.connection) == CONNECTION_OK }

    /// True inside a transaction block, including a failed one.
    public var isInTransaction: Bool {
        let status = PQtransactionStatus(self.connection)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE
    }

    /// Runs `body` inside BEGIN ... COMMIT; any error rolls back.
    public func transaction<Result>(_ body: () throws -> Result) throws -> Result {
        try self.execute("BEGIN")
        do {
            let result = try body()
            try self.execute("COMMIT")
            return result
        } catch {
            if self.isHealthy { _ = try? self.execute("ROLLBACK") }
            throw error
        }
    }

    private static func text(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
        guard let pointer else { return "" }
        return String(cString: pointer).trimmingSuffixWhitespace()
    }

    private static func withCStrings<Result>(
        _ values: [String?],
        _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> Result
    ) -> Result {
        let duplicated = values.map { $0.map { UnsafePointer(strdup($0)!) } }
        defer { for pointer in duplicated { free(UnsafeMutablePointer(mutating: pointer)) } }
        return duplicated.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}

extension String {
    fileprivate func trimmingSuffixWhitespace() -> String {
        var text = Substring(self)
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
