import ArgumentParser

@main
struct FlashSale: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flashsale",
        abstract: "A distributed flash-sale coordinator.",
        subcommands: [Node.self, Audit.self, Admin.self, Load.self, OpenLoop.self, Check.self]
    )
}
