return await Edge.Host.Cli.EdgeCli.RunAsync(args).ConfigureAwait(false);
