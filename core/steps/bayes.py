"""The naive Bayes vs logistic regression page's lecture text: its walkthrough steps and explore views."""
from core.lessons import Step, View

INTRO = (
    "Gaussian **naive Bayes** (NB) estimates the joint $P(Y, \\mathbf{X}) = P(Y)\\prod_j P(X_j\\mid Y)$ and "
    "gets $P(Y\\mid\\mathbf{X})$ from Bayes' rule; **logistic regression** (LR) fits $P(Y\\mid\\mathbf{X})$ "
    "directly. They are the lecture's *generative-discriminative pair*: same kind of boundary, different "
    "bias, variance and abilities."
)

STEPS = [
    Step("Bayes' rule", r"\begin{aligned}P(Y\mid X_1,\dots,X_p)&=\frac{P(Y)\,P(X_1,\dots,X_p\mid Y)}{P(X_1,\dots,X_p)}\\&\propto P(Y)\,P(X_1,\dots,X_p\mid Y)\end{aligned}",
            "NB never fits $P(Y\\mid X)$ itself. It estimates the prior and the class-conditional density, "
            "and Bayes' rule turns them into the posterior shaded on the left. The denominator is the same "
            "for every class, so it never needs computing for a decision.", "posterior"),
    Step("The naive independence assumption", r"\begin{aligned}P(X_j\mid Y,X_1,\dots,X_{j-1},X_{j+1},\dots,X_p)&=P(X_j\mid Y)\\ \Rightarrow\;P(Y\mid \mathbf{X})&\propto P(Y)\prod_{j=1}^p P(X_j\mid Y)\end{aligned}",
            "Given the class, the features are taken as independent, so each class is an axis-aligned "
            "Gaussian: its ellipses never tilt. Raise the feature correlation and watch the true clouds "
            "tilt while NB's ellipses cannot.", "generative"),
    Step("Gaussian feature likelihoods, fitted by maximum likelihood", r"P(x_{ij}\mid y)=\frac{1}{\sqrt{2\pi\sigma_{y,j}^2}}\exp\!\Big(-\frac{(x_{ij}-\mu_{y,j})^2}{2\sigma_{y,j}^2}\Big)",
            "Each $\\mu_{y,j}$ and $\\sigma^2_{y,j}$ is just the mean and variance of feature $j$ over the "
            "training points of class $y$: the labels are known, so no iterative fitting is needed. The table "
            "lists the estimates behind the ellipses.", "generative"),
    Step("MAP classification", r"\hat y_i=\operatorname{argmax}_y\;P(y)\prod_{j=1}^p P(x_{ij}\mid y)",
            "The predicted class is the one with the largest posterior: the black line is where the two "
            "posteriors are equal. NB's probabilities can be poorly calibrated when the assumption fails, "
            "yet its argmax is often right: compare its log-loss with its accuracy below the maps.", "posterior"),
    Step("Generating new data", r"y\sim P(Y),\qquad x_j\sim\mathcal N(\mu_{y,j},\sigma^2_{y,j})\ \ (j=1,\dots,p)",
            "Because NB models the joint distribution it can draw brand-new labelled points (the open "
            "diamonds). Logistic regression cannot: it has no model of $P(\\mathbf X)$ to draw $\\mathbf x$ from.", "generative"),
    Step("NB is a linear model in disguise", r"\begin{aligned}\log\frac{P(y{=}1\mid\mathbf x)}{P(y{=}0\mid\mathbf x)}&=b+\sum_j w_j x_j+\sum_j a_j x_j^2\\ a_j&=\tfrac{1}{2\sigma_{0,j}^2}-\tfrac{1}{2\sigma_{1,j}^2}\end{aligned}",
            "Writing out NB's log-odds gives LR's linear predictor plus squared terms that vanish when "
            "the classes share their variances. Then NB is a linear classifier whose weights come from "
            "means and variances instead of from minimising the log-loss.", "linear"),
    Step("Bias and variance: learning curves", r"\begin{aligned}\text{err}_{\mathrm{NB}}(m)&\to\text{err}_{\mathrm{NB}}(\infty)\ \text{fast}\\ \text{err}_{\mathrm{LR}}(\infty)&\le\text{err}_{\mathrm{NB}}(\infty)\end{aligned}",
            "Ng & Jordan (2002): NB has higher bias but lower variance, so it can approach its (higher) "
            "asymptotic error with far fewer examples; LR needs more data but usually ends lower. On these "
            "digits that early lead shows only for some settings of the two models: the view measures which, "
            "and says why.", "curves"),
    Step("Correlated features: counting evidence twice", r"\begin{aligned}&x_{p+1}=\dots=x_{p+k-1}=x_1\\ \Rightarrow\;&\text{NB's log-odds count the } x_1 \text{ term } k \text{ times}\end{aligned}",
            "Copy a feature k times and NB multiplies the same evidence k times: its probabilities become "
            "overconfident and its log-loss climbs. LR just shares one weight among the copies and stays put.", "duplicates"),
]

VIEWS = [View("P(y | x)", ("posterior",)), View("Generate", ("generative",), keys=("gen",)),
         View("NB as a linear model", ("linear",), keys=("var", "cls")),
         View("Learning curves", ("curves",), keys=("curve", "splits", "smooth", "prep", "lrc")),
         View("Duplicated features", ("duplicates",))]
