import time, sys
from tools.fuzz import rounds, cluster, campaign as fz
ex = cluster.Inline()
fz.fuzz(seed=1, cases=16)
S=float(sys.argv[1])
for rep in range(2):
    t=time.time(); c=fz.fuzz(seed=3+rep, seconds=S, cpus="mix"); print("today", c.cases/(time.time()-t))
    r = rounds.campaign(seed=3+rep, seconds=S, cpus="mix", executor=ex, guided=False, measure=False); print("units blind nocov", r.total.cases/r.total.seconds)
    r = rounds.campaign(seed=3+rep, seconds=S, cpus="mix", executor=ex, guided=False); print("units blind cov", r.total.cases/r.total.seconds)
    r = rounds.campaign(seed=3+rep, seconds=S, cpus="mix", executor=ex, guided=True); print("guided", r.total.cases/r.total.seconds, len(r.corpus.entries))
