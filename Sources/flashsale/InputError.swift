/// Bad input found while a command runs (after parsing): printed as "Error: ..." alone.
/// ArgumentParser's ValidationError, thrown there, would print the root command's usage
/// instead of the subcommand's, which misleads more than it helps.
struct InputError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
