using Edge.Pipeline.Outputs;
using Edge.Tests;

namespace Edge.Pipeline.Tests.Outputs;

/// <summary>What a run leaves in its output folder: everything it committed, or, when it failed, nothing of its own.</summary>
public sealed class OutputDirectoryTests : IDisposable
{
    private readonly string _work = TestData.NewTempFolder();

    [Fact]
    public void Dispose_WithoutCommit_RemovesTheStaging_AndTheFolderOnlyWhenThisRunMadeItAndItIsEmpty()
    {
        // A folder this run made: staged files and the folder are gone.
        var made = Path.Combine(_work, "new");
        using (var output = new OutputDirectory(made))
        {
            File.WriteAllText(output.StagingPath("frames.jsonl"), "{}");
        }
        Assert.False(Directory.Exists(made));

        // A folder that was there with the user's and an earlier run's files: those stay, the staging goes.
        var earlier = Path.Combine(_work, "earlier");
        Directory.CreateDirectory(earlier);
        File.WriteAllText(Path.Combine(earlier, "frames.jsonl"), "earlier run");
        using (var output = new OutputDirectory(earlier))
        {
            File.WriteAllText(output.StagingPath("frames.jsonl"), "this run");
        }
        Assert.Equal(["frames.jsonl"], Directory.GetFileSystemEntries(earlier).Select(Path.GetFileName));
        Assert.Equal("earlier run", File.ReadAllText(Path.Combine(earlier, "frames.jsonl")));

        // An empty folder that was there before stays (it is the user's).
        var empty = Path.Combine(_work, "empty");
        Directory.CreateDirectory(empty);
        new OutputDirectory(empty).Dispose();
        Assert.True(Directory.Exists(empty));
        Assert.Empty(Directory.GetFileSystemEntries(empty));

        // Committed: the files under their final names, the folder kept.
        using (var output = new OutputDirectory(made))
        {
            File.WriteAllText(output.StagingPath("summary.json"), "{}");
            Assert.Equal([Path.Combine(made, "summary.json")], output.Commit());
        }
        Assert.Equal(["summary.json"], Directory.GetFileSystemEntries(made).Select(Path.GetFileName));
    }

    public void Dispose() => Directory.Delete(_work, recursive: true);
}
