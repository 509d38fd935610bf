package mssql_lakehouse.delta;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.Iterator;
import java.util.UUID;

import io.delta.storage.HadoopFileSystemLogStore;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;

/**
 * Delta's log store for tables on the local file system, safe for writers in several processes.
 *
 * <p>Delta's own stores for {@code file:} paths check that a commit file does not exist and then
 * rename theirs into place, and make that check-and-rename atomic with a lock held in one JVM:
 * the local file system's rename replaces a file that exists. Two Dagster runs are two JVMs, so
 * both may commit the same version of a table: the later commit file replaces the earlier (that
 * commit is lost) and the replaced file's checksum no longer matches it (Spark cannot read the
 * table again).
 *
 * <p>Here a commit file is written under a temporary name and published with a hard link, which
 * the operating system refuses when the name exists. Exactly one writer gets each version; the
 * others get the {@link java.nio.file.FileAlreadyExistsException} on which Delta checks for
 * conflicts and retries at the next version. The file is written without a Hadoop checksum.
 */
public class ExclusiveLocalLogStore extends HadoopFileSystemLogStore {

    public ExclusiveLocalLogStore(Configuration hadoopConf) {
        super(hadoopConf);
    }

    @Override
    public void write(Path path, Iterator<String> actions, Boolean overwrite, Configuration hadoopConf)
            throws IOException {
        if (overwrite) {
            // Files Delta may write again (_last_checkpoint), never a commit.
            writeWithRename(path, actions, true, hadoopConf);
            return;
        }
        java.nio.file.Path target = Paths.get(path.getFileSystem(hadoopConf).makeQualified(path).toUri());
        Files.createDirectories(target.getParent());
        // A dot-name, as Delta's own temporary files: listings of the log skip it.
        java.nio.file.Path temporary =
            target.resolveSibling("." + target.getFileName() + "." + UUID.randomUUID() + ".tmp");
        try {
            try (BufferedWriter out =
                     Files.newBufferedWriter(temporary, StandardCharsets.UTF_8, StandardOpenOption.CREATE_NEW)) {
                while (actions.hasNext()) {
                    out.write(actions.next());
                    out.write('\n');
                }
            }
            Files.createLink(target, temporary);
        } finally {
            Files.deleteIfExists(temporary);
        }
    }

    @Override
    public Boolean isPartialWriteVisible(Path path, Configuration hadoopConf) {
        // As Delta's local stores say: files written with overwrite may be seen half-written.
        return true;
    }
}
